import Foundation
import HTTPTestClient
import PostgresReplication
import Synchronization
import Testing
import WalBridge
import SeededRandom

/// Issue 17: a backfill while clients commit updates, deletes and inserts as
/// fast as they can must end, for every key, with the table's state as the
/// last record on Kafka (a deleted key with its delete event): handed to a
/// running bridge, streaming by itself, and across a kill -9 of either process.
///
/// How the last records are read matters as much as what is published: the
/// test broker keeps only about 5 MB per partition (some 7,000 events), so the
/// collector consumes all the time and checks that it skipped no offset; and
/// a sentinel seen on one partition says nothing about the others, so the
/// comparison waits for sentinels on every partition.
///
/// The `walbridge` processes are the release build when `scripts/test.sh` made
/// one: a debug build streams slower than two writers at full speed commit, so
/// each chunk's high mark waited behind a growing backlog and a kill test's job
/// took 30–90 s (and a million writes) instead of a few seconds.
@Suite("Snapshot under concurrent writes", .serialized)
struct SnapshotUnderWritesTests {
    static let rows = 30_000
    static let chunkSize = 5_000
    static let partitions: Int32 = 6

    @Test("handed to a running bridge: every key's last record matches the table", arguments: [1, 3])
    func handedToRunningBridge(writers: Int) throws {
        let setup = try BridgeTestSetup(partitions: Self.partitions)
        try Self.populate(setup)
        let port = Int.random(in: 20_000..<30_000)
        let config = try setup.writeConfiguration("metrics: {listen: 127.0.0.1:\(port)}\n"
            + setup.yaml(mappingExtra: "    snapshot: {event: UserSnapshotted, chunk_size: \(Self.chunkSize)}"))
        let collector = try setup.collector()
        let bridge = try WalBridgeProcess(["run", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try setup.database.waitForActiveSlot()
        let writer = ConcurrentWriter(database: setup.database.name, maxID: Self.rows, connections: writers)
        try writer.waitForFirstCommits()
        let started = ContinuousClock().now
        let snapshot = try WalBridgeProcess(["snapshot", "--config", config, "--table", "public.users"], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "the snapshot command's exit") { !snapshot.isRunning }
        let elapsed = ContinuousClock().now - started
        let written = try writer.stop()
        #expect(try snapshot.waitForExit() == 0, "\(snapshot.stderr)")
        #expect(snapshot.stderr.contains("asked it to backfill"), "the job was handed to the running bridge: \(snapshot.stderr)")
        var outcome = try Self.compareAfterSentinels(setup, collector: collector)
        let metrics = try httpGet(port: port, path: "/metrics").body
        outcome.rowsRead = outcome.snapshotEvents + Int(prometheusValue(metrics, "walbridge_snapshot_rows_dropped_total") ?? 0)
        bridge.signal(SIGTERM)
        #expect(try bridge.waitForExit() == 0, "\(bridge.stderr.suffix(2000))")
        Self.report("handed to a running bridge", chunkSize: Self.chunkSize, outcome, written, elapsed)
        #expect(outcome.snapshotEvents > 0 && outcome.dropped > 0, "the snapshot published rows and left some to the stream")
    }

    @Test("the snapshot command streaming by itself: every key's last record matches the table", arguments: [1, 3])
    func selfStreaming(writers: Int) throws {
        let setup = try BridgeTestSetup(partitions: Self.partitions)
        try Self.populate(setup)
        let extra = "    snapshot: {event: UserSnapshotted, chunk_size: \(Self.chunkSize)}"
        let config = try setup.writeConfiguration(setup.yaml(mappingExtra: extra))
        let collector = try setup.collector()
        // The slot first, so that every change the writers commit is streamed.
        let first = try setup.startBridge(configuration: try setup.configuration(mappingExtra: extra))
        #expect(try first.stopAndWait() == nil)
        let writer = ConcurrentWriter(database: setup.database.name, maxID: Self.rows, connections: writers)
        try writer.waitForFirstCommits()
        let started = ContinuousClock().now
        let snapshot = try WalBridgeProcess(["snapshot", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "the snapshot command's exit") { !snapshot.isRunning }
        let elapsed = ContinuousClock().now - started
        let written = try writer.stop()
        #expect(try snapshot.waitForExit() == 0, "the snapshot command exits 0 once every row is delivered: \(snapshot.stderr.suffix(2000))")
        #expect(!snapshot.stderr.contains("asked it to backfill"), "no bridge was running: it streamed by itself")
        // `walbridge run` afterwards streams what was committed since.
        let bridge = try WalBridgeProcess(["run", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try setup.database.waitForActiveSlot()
        var outcome = try Self.compareAfterSentinels(setup, collector: collector)
        bridge.signal(SIGTERM)
        #expect(try bridge.waitForExit() == 0, "\(bridge.stderr.suffix(2000))")
        outcome.rowsRead = try #require(Self.finalRowsRead(snapshot.stderr), "the final progress line: \(snapshot.stderr.suffix(1000))")
        Self.report("streaming by itself", chunkSize: Self.chunkSize, outcome, written, elapsed)
        #expect(outcome.snapshotEvents > 0 && outcome.dropped > 0, "the snapshot published rows and left some to the stream")
    }

    /// The rows read, from the last progress line `walbridge snapshot` prints
    /// ("public.users: 24,324 / ~30,000 rows (100%), …").
    static func finalRowsRead(_ stderr: String) -> Int? {
        for line in stderr.split(separator: "\n").reversed() {
            guard let colon = line.range(of: ": "), let slash = line.range(of: " / ~", range: colon.upperBound..<line.endIndex) else { continue }
            return Int(line[colon.upperBound..<slash.lowerBound].filter { $0 != "," })
        }
        return nil
    }

    @Test("kill -9 of `walbridge snapshot` (streaming by itself) mid-job, resumed by the next one: every key's last record matches the table")
    func killSnapshotCommandMidJob() throws {
        let setup = try BridgeTestSetup(partitions: Self.partitions)
        try Self.populate(setup)
        let extra = "    snapshot: {event: UserSnapshotted, chunk_size: 1000}"
        let config = try setup.writeConfiguration(setup.yaml(mappingExtra: extra))
        let collector = try setup.collector()
        let first = try setup.startBridge(configuration: try setup.configuration(mappingExtra: extra))
        #expect(try first.stopAndWait() == nil)
        let writer = ConcurrentWriter(database: setup.database.name, maxID: Self.rows, connections: 2)
        try writer.waitForFirstCommits()
        let started = ContinuousClock().now
        let killed = try WalBridgeProcess(["snapshot", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "a few chunks checkpointed") { Self.rowsDone(setup) >= 3_000 || !killed.isRunning }
        killed.signal(SIGKILL)
        #expect(try killed.waitForExit() == 128 + SIGKILL, "killed mid-job: \(killed.stderr.suffix(1000))")
        let atKill = Self.rowsDone(setup)
        let resumed = try WalBridgeProcess(["snapshot", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "the resumed snapshot's exit") { !resumed.isRunning }
        let elapsed = ContinuousClock().now - started
        #expect(try resumed.waitForExit() == 0, "\(resumed.stderr.suffix(2000))")
        #expect(resumed.stderr.contains("resuming"), "it resumed the job")
        let written = try writer.stop()
        let bridge = try WalBridgeProcess(["run", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try setup.database.waitForActiveSlot()
        let outcome = try Self.compareAfterSentinels(setup, collector: collector)
        bridge.signal(SIGTERM)
        #expect(try bridge.waitForExit() == 0)
        Self.report("walbridge snapshot killed after \(atKill) rows, resumed", chunkSize: 1_000, outcome, written, elapsed)
        #expect(atKill > 0 && atKill < Self.rows, "the kill came in the middle of the job")
    }

    @Test("kill -9 of the running bridge mid-job (handed to it), resumed by the next `walbridge run`: every key's last record matches the table")
    func killRunningBridgeMidJob() throws {
        let setup = try BridgeTestSetup(partitions: Self.partitions)
        try Self.populate(setup)
        let config = try setup.writeConfiguration(setup.yaml(mappingExtra: "    snapshot: {event: UserSnapshotted, chunk_size: 1000}"))
        let collector = try setup.collector()
        let killed = try WalBridgeProcess(["run", "--config", config], executable: WalBridgeProcess.fastestExecutable)
        try setup.database.waitForActiveSlot()
        let writer = ConcurrentWriter(database: setup.database.name, maxID: Self.rows, connections: 2)
        try writer.waitForFirstCommits()
        let started = ContinuousClock().now
        let snapshot = try WalBridgeProcess(["snapshot", "--config", config, "--table", "public.users"], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "a few chunks checkpointed") { Self.rowsDone(setup) >= 3_000 || !killed.isRunning }
        killed.signal(SIGKILL)
        #expect(try killed.waitForExit() == 128 + SIGKILL)
        let atKill = Self.rowsDone(setup)
        try Self.collect(collector, until: "the snapshot command sees the bridge gone") { !snapshot.isRunning }
        #expect(try snapshot.waitForExit() == 1, "it says the bridge stopped before the job finished: \(snapshot.stderr.suffix(1000))")
        let restarted = try WalBridgeProcess(["run", "--config", config, "--wait-for-slot"], executable: WalBridgeProcess.fastestExecutable)
        try Self.collect(collector, until: "the resumed job's end") {
            let state = (try? CheckpointStore(path: setup.checkpointPath).load())??.snapshot
            return state?.job == nil && state?.lastFinishedJobID != nil
        }
        let elapsed = ContinuousClock().now - started
        let written = try writer.stop()
        let outcome = try Self.compareAfterSentinels(setup, collector: collector)
        restarted.signal(SIGTERM)
        #expect(try restarted.waitForExit() == 0, "\(restarted.stderr.suffix(2000))")
        Self.report("walbridge run killed after \(atKill) rows, restarted", chunkSize: 1_000, outcome, written, elapsed)
        #expect(atKill > 0 && atKill < Self.rows, "the kill came in the middle of the job")
    }

    // MARK: - Helpers

    /// Rows done of the job in the checkpoint file (0 when none).
    static func rowsDone(_ setup: BridgeTestSetup) -> Int {
        (try? CheckpointStore(path: setup.checkpointPath).load())??.snapshot.job?.rowsDone ?? 0
    }

    static func populate(_ setup: BridgeTestSetup) throws {
        try setup.database.sql("""
            INSERT INTO users (username, first_name, email, password_hash)
            SELECT 'u' || g, 'First' || g, 'u' || g || '@example.com', 'secret-hash-' || g
            FROM generate_series(1, \(rows)) g
            """)
    }

    /// Consumes until `done` holds (two minutes at most).
    static func collect(_ collector: EventCollector, until what: String, _ done: () -> Bool) throws {
        try waitUntil(what, timeout: .seconds(120), interval: .milliseconds(1)) {
            try collector.collect(count: Int.max, timeout: .milliseconds(100))
            return done()
        }
    }

    struct Outcome {
        var keysCompared = 0
        /// Keys whose last record disagrees with the table.
        var wrong: [String] = []
        /// What makes the comparison itself unsound (records skipped, a key on two partitions).
        var unsound: [String] = []
        var snapshotEvents = 0
        var streamedEvents = 0
        var splitKeys = 0
        var skipped = 0
        /// Rows the snapshot read (set by the test, from the bridge's progress or metrics).
        var rowsRead = 0
        /// Rows read but left to the stream: read minus published (without restarts).
        var dropped: Int { rowsRead - snapshotEvents }
    }

    /// Inserts sentinel rows until every partition carried one, consuming
    /// meanwhile: a partition is ordered, so everything committed before the
    /// sentinels is then read. Compares every key's last record with the table.
    static func compareAfterSentinels(_ setup: BridgeTestSetup, collector: EventCollector) throws -> Outcome {
        var sentinels = Set<String>()
        var reached = Set<Int32>()
        var round = 0
        while reached.count < partitions {
            round += 1
            guard round <= 20 else { throw TestFailure("sentinels reached partitions \(reached.sorted()) only") }
            let ids = try setup.database.sql("""
                INSERT INTO users (username, first_name, email, password_hash)
                SELECT 'sentinel-\(round)-' || g, 'Sentinel', 'sentinel-\(round)-' || g || '@example.com', 'h'
                FROM generate_series(1, \(4 * partitions)) g RETURNING id
                """).rows.map { $0[0]! }
            sentinels.formUnion(ids)
            try waitUntil("the sentinel rows' events", timeout: .seconds(120), interval: .milliseconds(1)) {
                try collector.collect(count: Int.max, timeout: .milliseconds(100))
                let arrived = collector.events.filter { $0.key.map(sentinels.contains) == true }
                reached = Set(arrived.map(\.record.partition))
                return Set(arrived.compactMap(\.key)) == sentinels
            }
        }
        return try compare(setup, collector: collector)
    }

    /// Every key's last record (in its partition's order) against the table.
    static func compare(_ setup: BridgeTestSetup, collector: EventCollector) throws -> Outcome {
        var last: [String: ReceivedEvent] = [:]
        var partition: [String: Int32] = [:]
        var outcome = Outcome()
        for event in collector.events {
            guard let key = event.key else { continue }
            if event.source?["snapshot"] as? Bool == true { outcome.snapshotEvents += 1 } else { outcome.streamedEvents += 1 }
            if let known = partition[key], known != event.record.partition { outcome.splitKeys += 1 }
            partition[key] = event.record.partition
            last[key] = event
        }
        var table: [String: (firstName: String?, email: String?)] = [:]
        for row in try setup.database.sql("SELECT id, first_name, email FROM users").rows { table[row[0]!] = (row[1], row[2]) }
        for key in Set(table.keys).union(last.keys).sorted(by: { Int($0) ?? 0 < Int($1) ?? 0 }) {
            outcome.keysCompared += 1
            let event = last[key]
            let deletedOnKafka = event == nil || event?.record.value == nil || event?.eventType == "UserDeleted"
            if let state = table[key] {
                if deletedOnKafka || event?.data?["firstName"] as? String != state.firstName || event?.data?["email"] as? String != state.email {
                    outcome.wrong.append("\(key): last \(event?.eventType ?? "nothing") \(event?.data?["email"] ?? "-"), table \(state.email ?? "-")")
                }
            } else if !deletedOnKafka {
                outcome.wrong.append("\(key): deleted, last \(event?.eventType ?? "?")")
            }
        }
        outcome.skipped = Int(collector.skipped.values.reduce(0, +))
        if outcome.skipped > 0 { outcome.unsound.append("the test broker trimmed \(outcome.skipped) records before they were read: \(collector.skipped)") }
        if outcome.splitKeys > 0 { outcome.unsound.append("\(outcome.splitKeys) records on another partition than their key's earlier ones") }
        return outcome
    }

    /// Prints the numbers and checks the comparison was sound and found every key right.
    static func report(_ mode: String, chunkSize: Int, _ outcome: Outcome, _ written: ConcurrentWriter.Summary, _ elapsed: Duration) {
        #expect(outcome.unsound.isEmpty, "\(outcome.unsound)")
        #expect(outcome.wrong.isEmpty, "\(mode): \(outcome.wrong.count) of \(outcome.keysCompared) keys end in a record that disagrees with the table (the writers touched \(written.touched) keys), e.g. \(outcome.wrong.prefix(5))")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let dropped = outcome.rowsRead > 0 ? ", \(outcome.dropped) of \(outcome.rowsRead) rows read left to the stream" : ""
        print("snapshot under writes (\(mode)): \(rows) rows, chunk \(chunkSize), \(partitions) partitions, job \(String(format: "%.1f", seconds)) s; writers: \(written.updates) updates, \(written.deletes) deletes, \(written.inserts) inserts on \(written.touched) keys; \(outcome.snapshotEvents) snapshot events\(dropped), \(outcome.streamedEvents) streamed; \(outcome.keysCompared) keys compared, \(outcome.wrong.count) wrong")
    }
}

/// Clients committing single-statement updates, deletes and inserts of random
/// users with ids up to `maxID` (autocommit), each as fast as its connection
/// can, until stopped. An insert takes an id that may have been deleted, so the
/// table stays within the ids the snapshot reads and the job's length is bounded.
final class ConcurrentWriter: Sendable {
    struct Summary: Sendable {
        var updates = 0
        var deletes = 0
        var inserts = 0
        var touched = 0
        var failure: String?
    }

    private let stopped = Atomic<Bool>(false)
    private let commits = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)
    private let connections: Int
    private let results = Mutex<[(Summary, Set<Int>)]>([])

    init(database: String, maxID: Int, connections: Int = 1, seed: UInt64 = 17) {
        self.connections = connections
        let conninfo = TestDatabase.adminConninfo(database: database)
        for client in 0..<connections {
            let thread = Thread { [self] in
                var random = SplitMix64(seed: seed &+ UInt64(client))
                var result = Summary()
                var touched = Set<Int>()
                var serial = 0
                do {
                    let connection = try PostgresConnection(url: conninfo, replication: false)
                    while !stopped.load(ordering: .relaxed) {
                        serial += 1
                        let id = 1 + Int(random.next() % UInt64(maxID))
                        let tag = "\(client)-\(serial)"
                        switch random.next() % 20 {
                        case 0..<9:
                            try connection.query("UPDATE users SET first_name = $1, email = $2 WHERE id = $3",
                                                 parameters: ["v\(tag)", "v\(tag)@example.com", String(id)])
                            result.updates += 1
                            touched.insert(id)
                        case 9..<18:
                            try connection.query("DELETE FROM users WHERE id = $1", parameters: [String(id)])
                            result.deletes += 1
                            touched.insert(id)
                        default:
                            // A deleted id again, ahead of the reader or behind it (the table never outgrows maxID).
                            try connection.query("""
                                INSERT INTO users (id, username, first_name, email, password_hash)
                                VALUES ($1, $2, 'New', $3, 'h') ON CONFLICT DO NOTHING
                                """, parameters: [String(id), "new\(tag)", "new\(tag)@example.com"])
                            result.inserts += 1
                            touched.insert(id)
                        }
                        commits.add(1, ordering: .relaxed)
                    }
                } catch {
                    result.failure = "\(error)"
                }
                results.withLock { $0.append((result, touched)) }
                finished.signal()
            }
            thread.start()
        }
    }

    /// Waits until the writers have committed a few hundred statements (they are at full speed).
    func waitForFirstCommits() throws {
        try waitUntil("the writers' first commits", timeout: .seconds(30)) { commits.load(ordering: .relaxed) >= 200 }
    }

    /// Stops the writers and returns what they did.
    func stop() throws -> Summary {
        stopped.store(true, ordering: .relaxed)
        for _ in 0..<connections {
            guard finished.wait(timeout: .now() + 30) == .success else { throw TestFailure("a writer did not stop") }
        }
        let all = results.withLock { $0 }
        var total = Summary()
        var touched = Set<Int>()
        for (result, keys) in all {
            if let failure = result.failure { throw TestFailure("a writer failed: \(failure)") }
            total.updates += result.updates
            total.deletes += result.deletes
            total.inserts += result.inserts
            touched.formUnion(keys)
        }
        total.touched = touched.count
        return total
    }
}
