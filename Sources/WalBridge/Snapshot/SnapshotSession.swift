import Foundation
import Logging
import Synchronization

/// The backfill's moving parts for one replication session: the pipeline-side
/// `SnapshotCoordinator`, the `SnapshotReader` thread of the job in progress,
/// and the request file a `walbridge snapshot` next to this running bridge
/// writes. Lives on the pipeline thread; a request is checked (on a connection
/// of its own) on a short-lived thread, so reading never waits for it.
final class SnapshotSession {
    let coordinator: SnapshotCoordinator
    private let requests: SnapshotRequestFile?
    private let makeReader: (SnapshotState.Job, _ session: UInt64, SnapshotChannel) -> SnapshotReader
    private let accept: @Sendable (SnapshotRequestFile.Request) throws(BridgeError) -> SnapshotState.Job
    /// The outcome of the request being checked on its thread, once there is one.
    private let acceptance = AcceptanceOutcome()
    /// A request is being checked on its thread.
    private var accepting = false
    private let logger: Logger
    private var reader: SnapshotReader?
    private let clock = ContinuousClock()
    private var lastPoll: ContinuousClock.Instant
    /// A request whose job is started but not yet in the checkpoint file.
    private var unrecordedRequest = false

    /// - Parameters:
    ///   - state: the backfill state this session starts with.
    ///   - requests: where requests from `walbridge snapshot` arrive; nil to take none.
    ///   - makeReader: builds the reader of a job.
    ///   - accept: checks a request against the database and makes its job (throws to refuse it).
    init(state: SnapshotState, requests: SnapshotRequestFile?,
         makeReader: @escaping (SnapshotState.Job, UInt64, SnapshotChannel) -> SnapshotReader,
         accept: @escaping @Sendable (SnapshotRequestFile.Request) throws(BridgeError) -> SnapshotState.Job,
         logger: Logger) {
        let session = UInt64.random(in: 1...UInt64.max)
        coordinator = SnapshotCoordinator(state: state, channel: SnapshotChannel(), session: session)
        self.requests = requests
        self.makeReader = makeReader
        self.accept = accept
        self.logger = logger
        lastPoll = clock.now
        if let job = state.job {
            reader = makeReader(job, session, coordinator.channel)
        }
    }

    /// Starts reading the job this session began with, if any.
    func start() {
        reader?.start()
    }

    /// About once a second while no job runs: takes a waiting request and
    /// checks it on a thread of its own (`accept` connects to Postgres); on a
    /// later call, once the check is done, starts its job and returns true: the
    /// caller then writes the checkpoint and calls `requestRecorded()`. A request
    /// that cannot run is refused with its reason.
    func pollRequests() -> Bool {
        guard let requests, !unrecordedRequest, coordinator.isIdle else { return false }
        if accepting {
            guard let outcome = acceptance.take() else { return false }
            accepting = false
            switch outcome {
            case .failure(let error):
                refuse(error.message, requests: requests)
                return false
            case .success(let job):
                logger.info("snapshot: request from `walbridge snapshot` taken; backfilling while streaming", metadata: [
                    "job": "\(job.id)", "tables": "\(job.tables.map(\.table.description))"])
                let session = UInt64.random(in: 1...UInt64.max)
                coordinator.start(job, session: session)
                reader = makeReader(job, session, coordinator.channel)
                reader?.start()
                unrecordedRequest = true
                return true
            }
        }
        guard clock.now - lastPoll >= .seconds(1) else { return false }
        lastPoll = clock.now
        guard let read = requests.read() else { return false }
        switch read {
        case .failure(let error):
            refuse(error.message, requests: requests)
        case .success(let request):
            accepting = true
            let thread = Thread { [accept, acceptance] in
                do throws(BridgeError) {
                    acceptance.put(.success(try accept(request)))
                } catch {
                    acceptance.put(.failure(error))
                }
            }
            thread.name = "walbridge-snapshot-request"
            thread.start()
        }
        return false
    }

    /// The checkpoint holds the requested job now: the request file can go.
    func requestRecorded() {
        guard unrecordedRequest else { return }
        unrecordedRequest = false
        requests?.remove()
    }

    /// Stops the reader (end of the session).
    func stop() {
        reader?.stop()
        reader = nil
    }

    private func refuse(_ reason: String, requests: SnapshotRequestFile) {
        logger.error("snapshot request refused", metadata: ["reason": "\(reason)"])
        requests.reject(reason)
    }
}

/// Hands the outcome of a snapshot request's check from its thread to the
/// pipeline thread (under the `Mutex`).
final class AcceptanceOutcome: Sendable {
    private let outcome = Mutex<Result<SnapshotState.Job, BridgeError>?>(nil)

    func put(_ value: Result<SnapshotState.Job, BridgeError>) {
        outcome.withLock { $0 = value }
    }

    /// The outcome, once; nil while the check runs.
    func take() -> Result<SnapshotState.Job, BridgeError>? {
        outcome.withLock { value in
            defer { value = nil }
            return value
        }
    }
}
