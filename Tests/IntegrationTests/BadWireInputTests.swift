import Configuration
import EventMapping
import Foundation
import Logging
import PostgresReplication
import Synchronization
import Testing
import WalBridge

/// A walsender that sends bad bytes (issue 15): a loopback proxy between
/// WalBridge and the test cluster damages the first Insert of one chosen
/// transaction in the first replication session (or the CopyData carrying it). WalBridge must log a typed
/// error, drop the connection and reconnect; the checkpoint must not pass the
/// last good transaction while the bad one is pending; the bad transaction is
/// published once, after the reconnect, with the event id of its clean form.
@Suite("Bad input on the wire: a corrupt replication stream is read again", .serialized)
struct BadWireInputTests {
    @Test("a damaged Insert ends the session; after the reconnect its transaction is published once",
          arguments: CorruptingWalsenderProxy.Corruption.allCases)
    func corruptedInsertIsStreamedAgain(_ corruption: CorruptingWalsenderProxy.Corruption) throws {
        // One partition: the topic's order is the publishing order, so a copy
        // published before the reconnect would come before the sentinel.
        let setup = try BridgeTestSetup(partitions: 1)
        let marker = "poison-\(corruption)"
        let store = CheckpointStore(path: setup.checkpointPath)
        let checkpointAtReconnect = Mutex<LSN?>(nil)
        let proxy = try CorruptingWalsenderProxy(
            upstreamPort: UInt16(TestDatabase.port)!, marker: marker, corruption: corruption
        ) { session in
            // The bridge waits for this session's CopyBothResponse: the checkpoint is what the bad session left.
            if session == 2 { checkpointAtReconnect.withLock { $0 = (try? store.load())??.lsn } }
        }
        defer { proxy.stop() }
        let log = CapturedLog()
        let collector = try setup.collector()
        let bridge = RunningBridge(configuration: try configuration(setup, through: proxy),
                                   options: BridgeTestSetup.testOptions(), logger: log.logger)
        try setup.database.waitForActiveSlot()

        try setup.insertUser("before")
        try collector.collect(count: 1)
        try setup.insertUser(marker)
        try setup.insertUser("after")
        let events = try collector.collect(count: 3)
        let error = try bridge.stopAndWait()
        #expect(error == nil, "\(String(describing: error))")

        #expect(events.compactMap { $0.data?["username"] as? String } == ["before", marker, "after"])
        try #require(events.count == 3)
        let badCommit = try #require(proxy.corruptedCommitLSN, "the proxy never saw the marked Insert")
        #expect(proxy.corruptedSessions == 1)
        #expect(proxy.replicationSessions >= 2, "WalBridge did not reconnect")
        let checkpointed = try #require(checkpointAtReconnect.withLock { $0 }, "no checkpoint at the reconnect")
        #expect(checkpointed.value < badCommit, "the checkpoint \(checkpointed) passed the bad transaction at \(LSN(badCommit))")
        let systemID = try #require(try setup.database.sql("SELECT system_identifier FROM pg_control_system()").rows[0][0])
        #expect(events[1].eventID == eventID(systemID: systemID, database: setup.database.name, commitLSN: LSN(badCommit), ordinal: 0))

        let expected = corruption == .unannouncedRelation
            ? "the replication stream is inconsistent" : "cannot decode the replication stream"
        #expect(log.lines.contains { $0.level == .warning && $0.message.contains(expected) && $0.message.hasSuffix("; reconnecting") },
                "\(log.lines.map(\.message))")
        #expect(!log.lines.contains { $0.message.contains(marker) }, "a row value reached the log")
    }

    @Test("a walsender that sends the same bad bytes every time stops the bridge after the retries, with a clear error")
    func sameBadBytesEveryTimeStop() throws {
        let setup = try BridgeTestSetup(partitions: 1)
        let marker = "poison-always"
        let proxy = try CorruptingWalsenderProxy(
            upstreamPort: UInt16(TestDatabase.port)!, marker: marker, corruption: .truncated, everySession: true)
        defer { proxy.stop() }
        var options = BridgeTestSetup.testOptions()
        options.tuning.corruptStreamAttempts = 3
        let collector = try setup.collector()
        let bridge = RunningBridge(configuration: try configuration(setup, through: proxy), options: options,
                                   logger: CapturedLog().logger)
        try setup.database.waitForActiveSlot()

        try setup.insertUser("before")
        try collector.collect(count: 1)
        try setup.insertUser(marker)
        let error = try #require(try bridge.wait(timeout: .seconds(60)), "the bridge stopped without an error")

        #expect(error.kind == .fatal && error.exitCode == 1)
        #expect(error.message.hasPrefix("cannot decode the replication stream: "), "\(error)")
        #expect(error.message.contains("came back corrupt 3 times in a row"), "\(error)")
        #expect(proxy.corruptedSessions == 3)
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(checkpoint.lsn.value < (proxy.corruptedCommitLSN ?? 0))
    }

    /// The test configuration with its URL pointed at the proxy, without TLS so the proxy can read the stream.
    private func configuration(_ setup: BridgeTestSetup, through proxy: CorruptingWalsenderProxy) throws -> BridgeConfiguration {
        let direct = "@127.0.0.1:\(TestDatabase.port)/\(setup.database.name)"
        let yaml = setup.yaml().replacingOccurrences(
            of: direct, with: "@127.0.0.1:\(proxy.port)/\(setup.database.name)?sslmode=disable&gssencmode=disable")
        return try BridgeConfiguration.parse(yaml: yaml, source: "test.yaml", environment: [:])
    }
}

/// Keeps every log line of one logger (level and message; metadata is not kept).
final class CapturedLog: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let storage = Mutex<[Line]>([])
    var lines: [Line] { storage.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "captured") { _ in Handler(log: self) }
        logger.logLevel = .info
        return logger
    }

    fileprivate func append(_ line: Line) { storage.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.append(Line(level: event.level, message: "\(event.message)"))
        }
    }
}
