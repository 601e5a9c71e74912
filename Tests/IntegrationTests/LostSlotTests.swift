import FaultProxy
import Foundation
import HTTPTestClient
import PostgresReplication
import Testing
import WalBridge

/// Issue 17, part 1: a lost slot is never recreated silently. When the
/// checkpoint's slot is missing, or was dropped and created again, `run`
/// refuses to start (exit 2); `--recreate-slot` records the gap, backfills the
/// mapped tables, and `status` and `/readyz` show the gap until the backfill is
/// delivered. WalBridge's own slot after a crash is never mistaken for another.
@Suite("Lost slots", .serialized)
struct LostSlotTests {
    /// Streams `count` inserts through a `walbridge run` process and stops it
    /// cleanly; returns the checkpoint it left.
    func streamAndStop(_ setup: BridgeTestSetup, config: String, collector: EventCollector, prefix: String, count: Int) throws -> Checkpoint {
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        try setup.insertUsers(prefix: prefix, count: count)
        try waitUntil("\(count) \(prefix) users", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(100))
            return eventsByUsername(collector.events).keys.filter { $0.hasPrefix(prefix) }.count >= count
        }
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        return try #require(try CheckpointStore(path: setup.checkpointPath).load())
    }

    func slotExists(_ setup: BridgeTestSetup) throws -> Bool {
        try setup.database.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)'").rows[0][0] == "1"
    }

    @Test("a dropped slot: run, validate and status refuse with the slot, the checkpoint LSN and the remedies; no slot is created")
    func missingSlotIsRefused() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let collector = try setup.collector()
        let checkpoint = try streamAndStop(setup, config: config, collector: collector, prefix: "before", count: 100)
        #expect(checkpoint.slotFollowsCheckpoint)
        try setup.database.sql("SELECT pg_drop_replication_slot('\(setup.database.slot)')")
        try setup.insertUsers(prefix: "lost", count: 100)

        let run = try WalBridgeProcess.run(["run", "--config", config])
        #expect(run.status == 2, "stderr: \(run.stderr)")
        for part in ["'\(setup.database.slot)'", "does not exist", "\(checkpoint.lsn)", "--recreate-slot"] {
            #expect(run.stderr.contains(part), "\(part) in: \(run.stderr)")
        }
        #expect(!run.stderr.contains("created replication slot"))
        #expect(try !slotExists(setup), "run never creates a slot past a gap")
        #expect(try CheckpointStore(path: setup.checkpointPath).load() == checkpoint, "the checkpoint is untouched")

        let validate = try WalBridgeProcess.run(["validate", "--config", config])
        #expect(validate.status == 2)
        #expect(validate.stderr.contains("does not exist") && validate.stderr.contains("\(checkpoint.lsn)"), "\(validate.stderr)")
        let status = try WalBridgeProcess.run(["status", "--config", config])
        #expect(status.status == 1)
        #expect(status.stderr.contains("--recreate-slot"), "\(status.stderr)")
        let published = try collector.collectAll().count
        #expect(published == 100, "nothing of the lost changes was published (\(published) events)")
    }

    @Test("a slot dropped and created again by hand: refused, and status shows the unrecorded gap")
    func recreatedSlotIsRefused() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let collector = try setup.collector()
        let checkpoint = try streamAndStop(setup, config: config, collector: collector, prefix: "before", count: 50)
        try setup.database.sql("SELECT pg_drop_replication_slot('\(setup.database.slot)')")
        try setup.insertUsers(prefix: "lost", count: 50)
        let created = LSN(try setup.database.sql(
            "SELECT lsn::text FROM pg_create_logical_replication_slot('\(setup.database.slot)', 'pgoutput')").rows[0][0]!)!
        #expect(created > checkpoint.lsn)

        let run = try WalBridgeProcess.run(["run", "--config", config])
        #expect(run.status == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("ahead of checkpoint") && run.stderr.contains("\(checkpoint.lsn)"), "\(run.stderr)")
        let status = try WalBridgeProcess.run(["status", "--config", config, "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains(#""gap": {"checkpointLsn": "\#(checkpoint.lsn)""#), "\(status.stdout)")
        #expect(status.stdout.contains(#""recorded": false"#))
        #expect(try collector.collectAll().count == 50, "nothing of the lost changes was published")
    }

    @Test("--recreate-slot: records the gap, backfills, /readyz fails until the backfill is delivered, then every row matches the table")
    func recreateSlotBackfills() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let collector = try setup.collector()
        let checkpoint = try streamAndStop(setup, config: config, collector: collector, prefix: "before", count: 60)
        try setup.database.sql("SELECT pg_drop_replication_slot('\(setup.database.slot)')")
        // The gap: inserts, updates and deletes no slot decodes.
        try setup.insertUsers(prefix: "gap", count: 40)
        try setup.database.sql("UPDATE users SET email = 'changed-in-gap-' || id || '@example.com' WHERE username LIKE 'before%' AND id % 3 = 0")
        let deleted = try setup.database.sql("DELETE FROM users WHERE username LIKE 'before%' AND id % 5 = 0 RETURNING id").rows.map { $0[0]! }
        #expect(!deleted.isEmpty)

        let port = try freeLoopbackPort()
        let withMetrics = try setup.writeConfiguration(
            "metrics: {listen: \"127.0.0.1:\(port)\"}\n" + setup.yaml(mappingExtra: "    snapshot: {event: UserSnapshotted, chunk_size: 25}"),
            name: "metrics.yaml")
        // Kafka down first, so the backfill cannot be delivered while we look.
        try setup.cluster.setAllBrokersDown()
        let process = try WalBridgeProcess(["run", "--config", withMetrics, "--recreate-slot"])
        try process.waitForLog("replication slot recreated with --recreate-slot")
        #expect(process.stderr.contains("error"), "the gap is logged at error level")
        let recorded = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        let gap = try #require(recorded.gap)
        #expect(gap.checkpointLSN == checkpoint.lsn)
        #expect(gap.slotLSN > checkpoint.lsn)
        #expect(gap.backfillJobID == recorded.snapshot.job?.id && recorded.snapshot.job?.origin == .recreatedSlot)
        try waitUntil("/readyz to name the gap", timeout: .seconds(20)) {
            let ready = try httpGet(port: port, path: "/readyz")
            return ready.status == 503 && ready.body.contains("replication slot was recreated")
        }
        let metrics = try httpGet(port: port, path: "/metrics").body
        #expect(prometheusValue(metrics, "walbridge_slot_gap_open") == 1)
        let status = try WalBridgeProcess.run(["status", "--config", withMetrics, "--json"])
        #expect(status.stdout.contains(#""recorded": true"#) && status.stdout.contains(gap.backfillJobID ?? "-"), "\(status.stdout)")

        try setup.cluster.setAllBrokersUp()
        try waitUntil("the gap to heal", timeout: .seconds(60)) {
            try CheckpointStore(path: setup.checkpointPath).load()?.gap == nil
        }
        try waitUntil("/readyz 200 once the gap is healed", timeout: .seconds(20)) { try httpGet(port: port, path: "/readyz").status == 200 }
        #expect(prometheusValue(try httpGet(port: port, path: "/metrics").body, "walbridge_slot_gap_open") == 0)
        let live = try setup.insertUser("after-gap")
        try waitUntil("the live insert", timeout: .seconds(30)) {
            _ = try collector.drain(for: .milliseconds(100))
            return collector.events.contains { $0.key == String(live) }
        }
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        #expect(process.stderr.contains("every mapped key's last event matches its table again"))

        // What consumers see: every row's last event matches the table; rows
        // deleted during the gap keep their last event from before it.
        let rows = try setup.database.sql("SELECT id::text, email FROM users").rows
        var last: [String: ReceivedEvent] = [:]
        for event in collector.events { if let key = event.key { last[key] = event } }
        for row in rows {
            let event = try #require(last[row[0]!], "no event for user \(row[0]!)")
            #expect(event.data?["email"] as? String == row[1], "user \(row[0]!): last event \(event.eventType ?? "?") carries \(String(describing: event.data?["email"]))")
        }
        let gapInserts = collector.events.filter { ($0.data?["username"] as? String)?.hasPrefix("gap") == true }
        #expect(Set(gapInserts.compactMap(\.key)).count == 40)
        #expect(gapInserts.allSatisfy { $0.eventType == "UserSnapshotted" && $0.source?["snapshot"] as? Bool == true })
        for id in deleted { #expect(last[id]?.eventType == "UserRegistered", "a user deleted in the gap gets no event") }
        let after = try WalBridgeProcess.run(["status", "--config", withMetrics, "--json"])
        #expect(!after.stdout.contains("\"gap\""), "\(after.stdout)")
    }

    @Test("after SIGKILLs mid-stream the slot never passes the checkpoint, so WalBridge's own slot is always accepted")
    func ownSlotAfterCrashes() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let collector = try setup.collector()
        let count = 3000
        var writer: BackgroundSQL?
        var kills = 0
        for round in 1...3 {
            let process = try WalBridgeProcess(["run", "--config", config])
            try process.waitForLog("streaming")
            // After the first start created the slot: changes before it are not in it.
            writer = writer ?? BackgroundSQL(database: setup.database.name, """
                DO $$ BEGIN FOR g IN 1..\(count) LOOP
                  INSERT INTO users (username, email, password_hash) VALUES ('crash' || g, 'crash' || g || '@example.com', 'h');
                  COMMIT;
                END LOOP; END $$
                """)
            let target = round * 300
            try waitUntil("\(target) users", timeout: .seconds(60)) {
                _ = try collector.drain(for: .milliseconds(50))
                return eventsByUsername(collector.events).count >= target
            }
            process.signal(SIGKILL)
            #expect(try process.waitForExit() == 128 + SIGKILL)
            #expect(!process.stderr.contains("ahead of checkpoint") && !process.stderr.contains("does not exist, but"))
            kills += 1
            let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
            let slot = try #require(try setup.database.confirmedFlush())
            #expect(slot <= checkpoint.lsn, "round \(round): slot at \(slot) passed the checkpoint \(checkpoint.lsn)")
        }
        try writer?.wait()
        let last = try WalBridgeProcess(["run", "--config", config])
        try waitUntil("all \(count) users", timeout: .seconds(90)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= count
        }
        last.signal(SIGTERM)
        #expect(try last.waitForExit() == 0)
        #expect(!last.stderr.contains("ahead of checkpoint"))
        print("lost slots/own slot after \(kills) SIGKILLs: \(count) rows, all delivered, slot never past the checkpoint")
    }

    @Test("a `walbridge snapshot` that streamed from the slot while `run` was disconnected is the slot's own history, not a gap: run resumes from the checkpoint file")
    func anotherProcessStreamedWhileDisconnected() throws {
        let setup = try BridgeTestSetup()
        let proxy = try FaultProxy(upstreamPort: UInt16(TestDatabase.port)!)
        defer { proxy.stop() }
        // `run` reaches Postgres through the proxy; `snapshot` directly. One slot, one checkpoint file.
        let proxied = setup.database.bridgeURL.replacingOccurrences(of: "127.0.0.1:\(TestDatabase.port)/", with: "127.0.0.1:\(proxy.port)/")
        let runConfig = try setup.writeConfiguration(setup.yaml().replacingOccurrences(of: setup.database.bridgeURL, with: proxied), name: "run.yaml")
        let snapshotConfig = try setup.writeConfiguration(name: "snapshot.yaml")
        let collector = try setup.collector()

        let run = try WalBridgeProcess(["run", "--config", runConfig])
        try run.waitForLog("streaming")
        try setup.insertUsers(prefix: "before", count: 20)
        try waitUntil("20 before users", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(100))
            return eventsByUsername(collector.events).keys.filter { $0.hasPrefix("before") }.count >= 20
        }
        let runPosition = try #require(try CheckpointStore(path: setup.checkpointPath).load()).lsn

        // The path to Postgres breaks and stays broken: `run` keeps retrying.
        proxy.setMode(.cut)
        _ = proxy.resetConnections()
        try waitUntil("the slot is free", timeout: .seconds(30)) {
            try setup.database.sql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)'").rows[0][0] == "f"
        }
        try setup.insertUsers(prefix: "during", count: 20)
        let snapshot = try WalBridgeProcess.run(["snapshot", "--config", snapshotConfig], timeout: .seconds(120))
        #expect(snapshot.status == 0, "snapshot: \(snapshot.stderr.suffix(2000))")
        let moved = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(moved.lsn > runPosition, "the snapshot command streamed the slot on and recorded it")

        // The path comes back: before the fix, run stopped with exit 2 ("another slot … the changes are gone").
        proxy.setMode(.pass)
        try run.waitForLog("resuming from the file", timeout: .seconds(60))
        try setup.insertUsers(prefix: "after", count: 20)
        try waitUntil("20 after users", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(100))
            return eventsByUsername(collector.events).keys.filter { $0.hasPrefix("after") }.count >= 20
        }
        #expect(run.isRunning, "run is still streaming: \(run.stderr.suffix(2000))")
        #expect(!run.stderr.contains("another slot"), "\(run.stderr.suffix(2000))")
        run.signal(SIGTERM)
        #expect(try run.waitForExit() == 0)
        let users = eventsByUsername(try collector.collectAll())
        for prefix in ["before", "during", "after"] {
            #expect(users.keys.filter { $0.hasPrefix(prefix) }.count == 20, "every \(prefix) user arrived")
        }
    }

}

/// A TCP port on 127.0.0.1 that nothing listens on now (bound to port 0 and released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestFailure("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
