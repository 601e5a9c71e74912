import Foundation
import Logging
import Synchronization
import Testing
@testable import WalBridge

/// Log lines a test keeps, to check what the group said.
final class KeptLogLines: Sendable {
    let lines = Mutex<[(level: Logger.Level, message: String, metadata: String)]>([])

    var logger: Logger {
        Logger(label: "service-group-test") { _ in KeepingLogHandler(kept: self) }
    }

    func contains(level: Logger.Level, _ text: String) -> Bool {
        lines.withLock { $0.contains { $0.level == level && ($0.message + " " + $0.metadata).contains(text) } }
    }
}

struct KeepingLogHandler: LogHandler {
    let kept: KeptLogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        kept.lines.withLock { $0.append((event.level, "\(event.message)", metadata)) }
    }
}

/// A component for the tests: what it does is set per test.
final class ProbeService: BackgroundService {
    enum Behaviour: Sendable {
        /// Sleeps in `StopToken.sleep` until stopped.
        case untilStopped
        /// Fails with this error once `go` is signalled.
        case fail(BridgeError)
        /// Returns on its own once `go` is signalled.
        case finish
        /// Ignores the stop; returns once `go` is signalled (escalation signals it when `escalationReleases`).
        case ignoreStop(escalationReleases: Bool)
    }

    let name: String
    let behaviour: Behaviour
    let go = DispatchSemaphore(value: 0)
    let sawStop = Atomic<Bool>(false)
    let woken = Atomic<Int>(0)
    let escalated = Atomic<Int>(0)
    let threadName = Mutex<String?>(nil)

    var stopped: Bool { sawStop.load(ordering: .acquiring) }
    var wakeCount: Int { woken.load(ordering: .relaxed) }
    var escalationCount: Int { escalated.load(ordering: .relaxed) }
    var thread: String? { threadName.withLock { $0 } }

    init(_ name: String, _ behaviour: Behaviour) {
        self.name = name
        self.behaviour = behaviour
    }

    /// The calling thread's name as the kernel keeps it (what `ps -T` and gdb show), not
    /// Foundation's `Thread.current.name`, which was seen to answer a Dispatch worker's
    /// name ("oot.default-qos") while the unit tests ran side by side.
    static func osThreadName() -> String? {
        (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
    }

    func run(_ stop: StopToken) throws(BridgeError) {
        threadName.withLock { $0 = Self.osThreadName() }
        switch behaviour {
        case .untilStopped:
            while !stop.sleep(for: .seconds(60)) {}
            sawStop.store(stop.isRequested, ordering: .releasing)
        case .fail(let error):
            go.wait()
            throw error
        case .finish:
            go.wait()
        case .ignoreStop:
            go.wait()
            sawStop.store(stop.isRequested, ordering: .releasing)
        }
    }

    func wake() { woken.add(1, ordering: .relaxed) }

    func escalate() {
        escalated.add(1, ordering: .relaxed)
        if case .ignoreStop(escalationReleases: true) = behaviour { go.signal() }
    }
}

/// Waits (polling) up to `timeout` for `condition`.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        Thread.sleep(forTimeInterval: 0.005)
    }
    return true
}

@Suite("ServiceGroup: one way to run and stop background components", .timeLimit(.minutes(1)))
struct ServiceGroupTests {
    @Test("start runs each component on a thread named after it; stop stops all, well within the deadline")
    func startAndStop() {
        let log = KeptLogLines()
        let a = ProbeService("walbridge-test-a", .untilStopped)
        let b = ProbeService("wb-test-b", .untilStopped)
        let group = ServiceGroup(label: "test", stopDeadline: .seconds(10), logger: log.logger)
        group.start([a, b])
        #expect(eventually { a.thread != nil && b.thread != nil })
        #expect(a.thread == "walbridge-test-", "the name, cut to the 15 bytes Linux keeps")
        #expect(b.thread == "wb-test-b")
        #expect(group.runningComponents == ["walbridge-test-a", "wb-test-b"])

        let report = group.stop()
        #expect(report.notStopped.isEmpty)
        #expect(report.elapsed < .seconds(5), "a sleeping component wakes at once: \(report.elapsed)")
        #expect(a.stopped && b.stopped)
        #expect(a.wakeCount == 1 && b.wakeCount == 1)
        #expect(!group.isRunning)
        #expect(group.failure == nil)
        // Idempotent: a second stop neither wakes nor waits again.
        #expect(group.stop().notStopped.isEmpty)
        #expect(a.wakeCount == 1)
        #expect(!log.contains(level: .error, "background"))
    }

    @Test("the failure of one component stops the others and is reported once")
    func failureStopsAll() {
        let log = KeptLogLines()
        let failures = Mutex<[String]>([])
        let failing = ProbeService("walbridge-test-failing", .fail(BridgeError(.fatal, "disk on fire; put it out")))
        let other = ProbeService("walbridge-test-other", .untilStopped)
        let group = ServiceGroup(label: "test", logger: log.logger) { error in
            failures.withLock { $0.append(error.message) }
        }
        group.start([failing, other])
        failing.go.signal()
        #expect(eventually { !group.isRunning }, "the other component was stopped by the failure")
        #expect(other.stopped)
        #expect(group.failure?.message == "disk on fire; put it out")
        #expect(eventually { failures.withLock { $0 } == ["disk on fire; put it out"] })
        #expect(log.contains(level: .error, "walbridge-test-failing"))
        #expect(failing.wakeCount == 0, "the failed component is not woken: its wake could undo how it reports")
        #expect(group.stop().notStopped.isEmpty)
    }

    @Test("a component that ignores the stop is escalated at the deadline, and stop returns with it named")
    func deadlineAndEscalation() {
        let log = KeptLogLines()
        let stubborn = ProbeService("walbridge-test-stubborn", .ignoreStop(escalationReleases: false))
        let polite = ProbeService("walbridge-test-polite", .untilStopped)
        let group = ServiceGroup(label: "test", stopDeadline: .milliseconds(300), logger: log.logger)
        group.start([stubborn, polite])
        let report = group.stop()
        #expect(report.notStopped == ["walbridge-test-stubborn"])
        #expect(report.elapsed >= .milliseconds(300))
        #expect(report.elapsed < .milliseconds(300) + ServiceGroup.escalationGrace + .seconds(2),
                "bounded: the deadline plus the grace, not until the component ends (\(report.elapsed))")
        #expect(stubborn.escalationCount == 1)
        #expect(polite.escalationCount == 0, "only what is still running is escalated")
        #expect(log.contains(level: .warning, "escalating"))
        #expect(log.contains(level: .error, "walbridge-test-stubborn"))
        #expect(group.runningComponents == ["walbridge-test-stubborn"])
        stubborn.go.signal()
        #expect(group.waitUntilFinished(timeout: .seconds(10)))
        #expect(stubborn.stopped)
    }

    @Test("escalation that unblocks a component lets stop return with everything stopped")
    func escalationUnblocks() {
        let log = KeptLogLines()
        let stuck = ProbeService("walbridge-test-stuck", .ignoreStop(escalationReleases: true))
        let group = ServiceGroup(label: "test", stopDeadline: .milliseconds(200), logger: log.logger)
        group.start([stuck])
        let report = group.stop()
        #expect(report.notStopped.isEmpty)
        #expect(stuck.escalationCount == 1)
        #expect(!log.contains(level: .error, "still running"))
    }

    @Test("a component whose work is done ends alone; the others keep running")
    func finishingAlone() {
        let done = ProbeService("walbridge-test-done", .finish)
        let other = ProbeService("walbridge-test-other", .untilStopped)
        let group = ServiceGroup(label: "test", logger: Logger(label: "test"))
        group.start([done, other])
        done.go.signal()
        #expect(eventually { group.runningComponents == ["walbridge-test-other"] })
        #expect(!other.stopped)
        #expect(group.failure == nil)
        #expect(group.stop().notStopped.isEmpty)
        #expect(other.stopped)
    }

    @Test("waitUntilFinished waits for components to return without stopping them")
    func waitWithoutStopping() {
        let done = ProbeService("walbridge-test-done", .finish)
        let group = ServiceGroup(label: "test", logger: Logger(label: "test"))
        group.start([done])
        #expect(!group.waitUntilFinished(timeout: .milliseconds(50)), "still running: its work is not done")
        #expect(done.wakeCount == 0)
        done.go.signal()
        #expect(group.waitUntilFinished(timeout: .seconds(10)))
    }

    @Test("a component started into a stopping group is stopped at once")
    func startAfterStop() {
        let group = ServiceGroup(label: "test", logger: Logger(label: "test"))
        group.stop()
        let late = ProbeService("walbridge-test-late", .untilStopped)
        group.start([late])
        #expect(group.waitUntilFinished(timeout: .seconds(10)))
        #expect(late.stopped)
    }

    @Test("StopToken.sleep returns at once after a request, every time")
    func stopTokenSleep() {
        let token = StopToken()
        #expect(!token.sleep(for: .milliseconds(1)))
        token.request()
        token.request()
        let started = ContinuousClock.now
        #expect(token.sleep(for: .seconds(30)))
        #expect(token.sleep(for: .seconds(30)))
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
