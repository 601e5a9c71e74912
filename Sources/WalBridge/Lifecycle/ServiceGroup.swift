import Configuration
import Foundation
import Logging
import Synchronization

/// One background component of WalBridge (the metrics listener, the slot
/// monitor, a snapshot reader, a bridge a test runs): blocking work on a
/// thread of its own, started and stopped by a `ServiceGroup`.
///
/// `run` returns when `stop` is requested (a graceful stop), returns on its
/// own when its work is done, or throws when it fails; a failure stops the
/// whole group. See docs/architecture.md, "Threads and lifecycle".
package protocol BackgroundService: Sendable {
    /// Names the thread (`walbridge-…`) and the component in log lines.
    var name: String { get }

    /// The component's work, on its own thread. Checks `stop` between steps
    /// and sleeps with `stop.sleep(for:)`, so a stop request ends it promptly.
    func run(_ stop: StopToken) throws(BridgeError)

    /// Called once a stop is requested (on the thread that asked): wakes
    /// `run` from a wait that `stop.sleep(for:)` does not cover (a channel, a
    /// signal). Must not block. Default: nothing.
    func wake()

    /// Called once the group's deadline passed and `run` has not returned:
    /// drop what it is blocked on, if it can (close a socket, cancel a query).
    /// Must not block. Default: nothing (the group logs that it did not stop).
    func escalate()
}

extension BackgroundService {
    package func wake() {}
    package func escalate() {}
}

/// A stop request for one component, and a sleep that it cuts short.
package final class StopToken: Sendable {
    private let requested = Atomic<Bool>(false)
    /// Signalled once by `request()`; a sleeper that takes the signal gives it back.
    private let signal = DispatchSemaphore(value: 0)

    package init() {}

    /// True once a stop was requested.
    package var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Requests the stop (idempotent); wakes a `sleep(for:)` in progress.
    /// Returns true for the call that made the request.
    @discardableResult
    package func request() -> Bool {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        signal.signal()
        return true
    }

    /// Sleeps for `duration` or until a stop is requested, whichever comes
    /// first. Returns true when a stop is requested.
    @discardableResult
    package func sleep(for duration: Duration) -> Bool {
        if isRequested { return true }
        if signal.wait(timeout: .now() + duration.timeInterval) == .success {
            signal.signal()   // for the next sleeper: the request stays in force
            return true
        }
        return isRequested
    }
}

/// What `ServiceGroup.stop()` saw.
package struct ServiceGroupStopReport: Sendable, Hashable {
    /// Components whose `run` had not returned by the deadline (after escalation):
    /// their threads are left to end with the process.
    package var notStopped: [String]
    /// How long the stop took.
    package var elapsed: Duration
}

/// Starts background components, each on a thread of its own, and stops them
/// together: the synchronous counterpart of swift-service-lifecycle's
/// `ServiceGroup` (WalBridge's threads block in libpq and poll(2), which that
/// library's async services cannot, see docs/architecture.md).
///
/// - A stop request (`stop()`) or the failure of one component (its `run`
///   throws) asks every component to stop (`StopToken.request`, then `wake`).
/// - `stop()` waits for all of them up to ONE deadline, counted from the
///   first stop request; then it escalates (`escalate` on each one still
///   running), waits a short grace period, and logs, at error, each component
///   that did not stop. It never waits longer than the deadline plus the grace.
/// - A component whose `run` returns on its own (its work is done) ends alone.
///
/// Thread-safe: `stop()` may be called from any thread, more than once.
package final class ServiceGroup: Sendable {
    /// The deadline WalBridge's own groups use (the metrics listener and slot
    /// monitor, a snapshot reader).
    package static let defaultStopDeadline: Duration = .seconds(10)
    /// After escalation, how long `stop()` still waits before giving up.
    package static let escalationGrace: Duration = .seconds(1)

    private struct Member: Sendable {
        /// The member's place in `members`.
        let index: Int
        let service: any BackgroundService
        let token: StopToken
        let finished: DispatchSemaphore
    }

    private struct State: Sendable {
        var members: [Member] = []
        /// Indexes of the members whose `run` has not returned.
        var running: Set<Int> = []
        var failure: BridgeError?
        var stopRequestedAt: ContinuousClock.Instant?
        var escalated = false
        var report: ServiceGroupStopReport?
    }

    package let label: String
    package let stopDeadline: Duration
    private let logger: Logger
    private let onFailure: @Sendable (BridgeError) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - label: names the group in log lines (`observability`, `snapshot`).
    ///   - stopDeadline: how long `stop()` waits for every component, in all.
    ///   - onFailure: called once, on the failing component's thread, with the
    ///     first failure (after the group was asked to stop).
    package init(label: String, stopDeadline: Duration = ServiceGroup.defaultStopDeadline, logger: Logger,
                 onFailure: @escaping @Sendable (BridgeError) -> Void = { _ in }) {
        self.label = label
        self.stopDeadline = stopDeadline
        self.logger = logger
        self.onFailure = onFailure
    }

    /// The first failure of a component, nil while none failed.
    package var failure: BridgeError? { state.withLock { $0.failure } }

    /// True while some component's `run` has not returned.
    package var isRunning: Bool { state.withLock { !$0.running.isEmpty } }

    /// The names of the components whose `run` has not returned, sorted.
    package var runningComponents: [String] {
        state.withLock { state in state.running.map { state.members[$0].service.name } }.sorted()
    }

    /// Starts each of `services` on a thread of its own (named after it, cut
    /// to the 15 bytes Linux keeps). A group already stopping stops them at once.
    package func start(_ services: [any BackgroundService]) {
        for service in services {
            let (member, stopping) = state.withLock { state in
                let member = Member(index: state.members.count, service: service, token: StopToken(),
                                    finished: DispatchSemaphore(value: 0))
                state.members.append(member)
                state.running.insert(member.index)
                return (member, state.stopRequestedAt != nil)
            }
            if stopping { member.token.request() }
            // Linux keeps at most 15 bytes of a thread's name (and drops a
            // longer one); set from the thread itself, which corelibs
            // Foundation's `Thread.name` before `start()` does not do. The
            // kernel's name (what `ps -T`, top and gdb show) is written too:
            // Foundation's setter was seen to leave a Dispatch worker's name
            // ("oot.default-qos") there about once in twenty starts.
            let threadName = String(decoding: service.name.utf8.prefix(15), as: UTF8.self)
            let thread = Thread { [self] in
                Thread.current.name = threadName
                try? threadName.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                var failed: BridgeError?
                do throws(BridgeError) {
                    try service.run(member.token)
                } catch {
                    failed = error
                }
                memberExited(member, failure: failed)
            }
            thread.start()
        }
    }

    private func memberExited(_ member: Member, failure: BridgeError?) {
        let first = state.withLock { state -> Bool in
            state.running.remove(member.index)
            guard let failure, state.failure == nil else { return false }
            state.failure = failure
            return true
        }
        member.finished.signal()
        guard first, let failure else { return }
        logger.error("background component failed; stopping its group", metadata: [
            "component": "\(member.service.name)", "group": "\(label)", "error": "\(failure.message)"])
        requestStop()
        onFailure(failure)
    }

    /// Asks every component to stop, without waiting (idempotent). Only the
    /// ones still running are woken: a failed component's `wake` (cancelling
    /// the channel it reports through, say) must not undo its report.
    package func requestStop() {
        let members = state.withLock { state -> [(Member, running: Bool)] in
            if state.stopRequestedAt == nil { state.stopRequestedAt = ContinuousClock.now }
            return state.members.map { ($0, state.running.contains($0.index)) }
        }
        for (member, running) in members where member.token.request() && running {
            member.service.wake()
        }
    }

    /// Asks every component to stop and waits for them up to `stopDeadline`
    /// (or `deadline`, when given), counted from the first stop request;
    /// escalates and logs what did not stop.
    @discardableResult
    package func stop(deadline overall: Duration? = nil) -> ServiceGroupStopReport {
        requestStop()
        let stopDeadline = overall ?? self.stopDeadline
        let (members, requestedAt) = state.withLock { ($0.members, $0.stopRequestedAt!) }
        let deadline = requestedAt + stopDeadline
        var stragglers = members.filter { !wait($0, until: deadline) }
        if !stragglers.isEmpty {
            let escalate = state.withLock { state -> Bool in
                defer { state.escalated = true }
                return !state.escalated
            }
            if escalate {
                logger.warning("background components did not stop within the deadline; escalating", metadata: [
                    "group": "\(label)", "deadline": "\(DurationText.format(stopDeadline))",
                    "components": "\(stragglers.map(\.service.name))"])
                for member in stragglers { member.service.escalate() }
            }
            let grace = ContinuousClock.now + Self.escalationGrace
            stragglers = stragglers.filter { !wait($0, until: max(grace, deadline + Self.escalationGrace)) }
        }
        let report = ServiceGroupStopReport(notStopped: stragglers.map(\.service.name),
                                            elapsed: ContinuousClock.now - requestedAt)
        let logNow = state.withLock { state -> Bool in
            defer { state.report = report }
            return state.report == nil && !report.notStopped.isEmpty
        }
        if logNow {
            logger.error("background components still running after the stop deadline; leaving them to end with the process", metadata: [
                "group": "\(label)", "deadline": "\(DurationText.format(stopDeadline))",
                "components": "\(report.notStopped)"])
        }
        return report
    }

    /// Waits up to `timeout` for every component to return on its own (one
    /// ended by a failure, or one whose work is done), without asking them to
    /// stop. Returns false when some are still running.
    package func waitUntilFinished(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return state.withLock { $0.members }.allSatisfy { wait($0, until: deadline) }
    }

    /// Waits until `member` returned or `deadline` passed; true when it returned.
    private func wait(_ member: Member, until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - ContinuousClock.now
        let result = member.finished.wait(timeout: .now() + max(remaining, .zero).timeInterval)
        guard result == .success else { return false }
        member.finished.signal()   // it stays finished for the next waiter
        return true
    }
}

extension Duration {
    /// Seconds, as `DispatchTime` arithmetic takes them.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
