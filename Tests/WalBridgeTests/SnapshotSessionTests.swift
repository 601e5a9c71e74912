import EventMapping
import Foundation
import Logging
import PostgresReplication
import Synchronization
import Testing
@testable import WalBridge

@Suite("SnapshotSession")
struct SnapshotSessionTests {
    /// Where the check of a request ran, and a gate that holds it.
    final class Probe: Sendable {
        let caller = Mutex<ObjectIdentifier?>(nil)
        let ranOn = Mutex<ObjectIdentifier?>(nil)
        let gate = DispatchSemaphore(value: 0)
    }

    @Test("a request from `walbridge snapshot` is checked off the pipeline thread, which polls on meanwhile")
    func requestCheckedOffThread() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walbridge-session-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let requests = SnapshotRequestFile(checkpointPath: directory.appendingPathComponent("checkpoint.json").path)
        let users = QualifiedName(schema: "public", table: "users")
        try requests.write(SnapshotRequestFile.Request(tables: [users], filter: nil))

        let probe = Probe()
        probe.caller.withLock { $0 = ObjectIdentifier(Thread.current) }
        let logger = Logger(label: "test")
        let session = SnapshotSession(
            state: SnapshotState(), requests: requests,
            makeReader: { job, session, channel in
                // Nothing listens there: the reader fails at once, on its own thread.
                SnapshotReader(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", job: job, plans: [], channel: channel,
                               session: session, valueDecoder: PostgresValueDecoder(), logger: logger)
            },
            accept: { [probe] request throws(BridgeError) in
                probe.ranOn.withLock { $0 = ObjectIdentifier(Thread.current) }
                // Like a connection that takes its time.
                _ = probe.gate.wait(timeout: .now() + 5)
                return SnapshotState.Job(id: request.id, origin: .command, filter: nil, tables: [SnapshotState.TableProgress(table: users)])
            },
            logger: logger)
        defer { session.stop() }

        // The request is read about a second after the session starts; its check then runs while the poll returns.
        let deadline = Date().addingTimeInterval(10)
        while probe.ranOn.withLock({ $0 }) == nil && Date() < deadline {
            #expect(session.pollRequests() == false)
            Thread.sleep(forTimeInterval: 0.01)
        }
        let ranOn = probe.ranOn.withLock { $0 }
        #expect(ranOn != nil, "the request was never checked")
        #expect(ranOn != probe.caller.withLock { $0 }, "the request was checked on the polling thread")
        #expect(session.pollRequests() == false, "the check is still held")
        probe.gate.signal()
        var started = false
        while !started && Date() < deadline {
            started = session.pollRequests()
            if !started { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(started, "the job of the checked request never started")
        #expect(session.coordinator.hadJob)
    }
}
