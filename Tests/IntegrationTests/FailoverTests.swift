import Foundation
import KafkaPublisher
import KafkaTestBroker
import PostgresReplication
import Synchronization
import Testing
import WalBridge

/// Issue 14: a primary failing over to its standby. On Postgres 17+ with a
/// failover slot WalBridge follows the promotion through a two-host URL and
/// loses nothing; without failover slots (15, 16) the lost slot is refused,
/// and the runbook (`--recreate-slot`) brings consumers back to the table.
@Suite("Failover", .serialized)
struct FailoverTests {
    static let topic = "auth.users.events"

    /// When the primary is killed, in seconds after the load starts: early
    /// (slot barely synced), mid-stream and late. 17 and 18 share the code
    /// path, and each moment builds a primary and a standby (about a minute of
    /// the CI run), so a run takes the three moments once between them: 17 the
    /// early and the late one, 18 the mid-stream one.
    /// `WALBRIDGE_FAILOVER_MOMENTS="0.5 1.5 3.0"` runs the moments given on any version.
    static let killMoments: [Double] = ProcessInfo.processInfo.environment["WALBRIDGE_FAILOVER_MOMENTS"]
        .map { $0.split(separator: " ").compactMap { Double($0) } }
        ?? (TestServer.majorVersion == 17 ? [0.5, 3.0] : [1.5])

    /// A client committing single-statement inserts, updates and deletes as
    /// fast as it can, following the primary through a two-host conninfo.
    final class MixedWriter: Sendable {
        private let stopping = Atomic<Bool>(false)
        private let done = DispatchSemaphore(value: 0)
        let commits = Atomic<Int>(0)
        let failures = Atomic<Int>(0)

        init(conninfo: String, prefix: String) {
            let thread = Thread { [self] in
                var connection: PostgresConnection?
                var sequence = 0
                while !stopping.load(ordering: .acquiring) {
                    do {
                        if connection == nil || connection?.isOK == false {
                            connection = try PostgresConnection(url: conninfo, replication: false, connectTimeoutSeconds: 2)
                        }
                        sequence += 1
                        switch Int.random(in: 0..<10) {
                        case 0..<4:
                            try connection!.query("INSERT INTO users (username, email, password_hash) VALUES ('\(prefix)\(sequence)', '\(prefix)\(sequence)@example.com', 'h')")
                        case 4..<8:
                            try connection!.query("UPDATE users SET email = 'changed-\(sequence)@example.com' WHERE id = (SELECT floor(random() * max(id))::int + 1 FROM users)")
                        default:
                            try connection!.query("DELETE FROM users WHERE id = (SELECT floor(random() * max(id))::int + 1 FROM users)")
                        }
                        commits.add(1, ordering: .relaxed)
                    } catch {
                        failures.add(1, ordering: .relaxed)
                        connection = nil
                        Thread.sleep(forTimeInterval: 0.2)
                    }
                }
                done.signal()
            }
            thread.start()
        }

        func stop() {
            stopping.store(true, ordering: .releasing)
            done.wait()
        }
    }

    func configuration(url: String, bootstrap: String, checkpoint: String, extra: String = "") -> String {
        """
        postgres:
          url: "\(url)"
          slot: walbridge_failover
          publication: walbridge
        \(extra)
        kafka:
          bootstrap_servers: \(bootstrap)
        checkpoint:
          path: \(checkpoint)
        mappings:
          - table: public.users
            topic: \(Self.topic)
            key: [id]
            events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
            snapshot: {event: UserSnapshotted, chunk_size: 500}
            fields: {id: userId, username: username, email: email}
        """
    }

    func write(_ text: String, to directory: String, name: String = "walbridge.yaml") throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Checks what consumers hold against the table: every key's last event
    /// matches its row (a deleted key ends in its delete), every duplicate is
    /// identical to its first copy, and each key's events are in commit order.
    /// Returns the number of duplicates.
    func verify(_ events: [ReceivedEvent], table: [[String?]], allowSnapshotLast: Bool = false) -> Int {
        var firstCopy: [String: [UInt8]] = [:]
        var duplicates = 0
        var byKey: [String: [ReceivedEvent]] = [:]
        for event in events {
            guard let id = event.eventID, let key = event.key else { continue }
            if let first = firstCopy[id] {
                duplicates += 1
                #expect(first == event.record.value ?? [], "event \(id) was published twice with different values")
                continue
            }
            firstCopy[id] = event.record.value ?? []
            byKey[key, default: []].append(event)
        }
        for (key, keyEvents) in byKey {
            let streamed = keyEvents.filter { $0.source?["snapshot"] as? Bool != true }
            let lsns = streamed.compactMap(\.commitLSN)
            #expect(lsns == lsns.sorted(), "key \(key): events out of commit order \(lsns)")
        }
        let rows = Dictionary(table.map { ($0[0]!, $0[2]) }, uniquingKeysWith: { first, _ in first })
        var wrong = 0
        for (key, keyEvents) in byKey {
            let last = keyEvents.last!
            if let email = rows[key] {
                if last.eventType == "UserDeleted" || last.data?["email"] as? String != email { wrong += 1 }
            } else if last.eventType != "UserDeleted" {
                wrong += 1
            }
        }
        for key in rows.keys where byKey[key] == nil { wrong += 1 }
        #expect(wrong == 0, "\(wrong) keys whose last event does not match the table (of \(rows.count) rows, \(byKey.count) keys)")
        return duplicates
    }

    /// Reads until a row inserted now has arrived (one partition: everything before it has too).
    func drainToSentinel(_ collector: EventCollector, admin: PostgresConnection, timeout: Duration = .seconds(90)) throws {
        let sentinel = try admin.query("INSERT INTO users (username, email, password_hash) VALUES ('sentinel', 'sentinel@example.com', 'h') RETURNING id").rows[0][0]!
        try waitUntil("the sentinel row \(sentinel)", timeout: timeout) {
            _ = try collector.drain(for: .milliseconds(100))
            return collector.events.contains { $0.key == sentinel }
        }
        #expect(collector.skipped.isEmpty, "the consumer skipped trimmed offsets: \(collector.skipped)")
    }

    @Test("Postgres 17+: a failover slot on a two-host URL follows the promoted standby; nothing lost, duplicates identical, order kept",
          .enabled(if: TestServer.majorVersion >= 17, "failover slots need Postgres 17 or later"),
          arguments: FailoverTests.killMoments)
    func failoverSlotSurvivesPromotion(killAfterSeconds: Double) throws {
        let pair = try ReplicaPair(slotSync: true, synchronizedStandbySlots: true)
        let cluster = try TestKafkaCluster(brokers: 1)
        try cluster.createTopic(Self.topic, partitions: 1)
        let directory = NSTemporaryDirectory() + "walbridge-failover-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try write(configuration(url: pair.multiHostURL, bootstrap: cluster.bootstrapServers,
                                             checkpoint: directory + "/checkpoint.json", extra: "  failover_slot: true"), to: directory)

        let validate = try WalBridgeProcess.run(["validate", "--config", config])
        #expect(validate.status == 0, "\(validate.stderr)")
        #expect(!validate.stdout.contains("synchronized_standby_slots is not set") && !validate.stdout.contains("no standby was checked"),
                "validate finds the pair safe: \(validate.stdout)")

        let collector = try EventCollector(bootstrapServers: cluster.bootstrapServers, topic: Self.topic)
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let primary = try pair.admin()
        try primary.query("INSERT INTO users (username, email, password_hash) SELECT 'seed' || g, 'seed' || g || '@example.com', 'h' FROM generate_series(1, 200) g")
        let standby = try pair.admin(standby: true)
        try waitUntil("the failover slot synchronised to the standby", timeout: .seconds(90)) {
            try standby.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'walbridge_failover' AND synced AND NOT temporary").rows.count == 1
        }
        #expect(try primary.query("SELECT failover FROM pg_replication_slots WHERE slot_name = 'walbridge_failover'").rows.first?.first == "t")
        let status = try WalBridgeProcess.run(["status", "--config", config, "--json"])
        #expect(status.stdout.contains(#""failover": true"#) && status.stdout.contains(#""standbySlots": [{"slot": "standby1", "active": true"#),
                "status shows the failover slot and its standby: \(status.stdout)")

        let writer = MixedWriter(
            conninfo: "host=\(pair.primary.directory),\(pair.standbyDirectory) port=\(pair.primary.port),\(pair.standbyPort) user=postgres dbname=auth target_session_attrs=primary",
            prefix: "load")
        Thread.sleep(forTimeInterval: killAfterSeconds)
        let clock = ContinuousClock()
        let killed = clock.now
        try pair.killPrimary()
        try pair.promoteStandby()
        let promotedAt = LSN(try standby.query("SELECT pg_current_wal_lsn()::text").rows[0][0]!)!
        try waitUntil("the writer committing on the new primary", timeout: .seconds(30)) { writer.commits.load(ordering: .relaxed) > 0 && (try? standby.query("SELECT 1").rows.count) == 1 }
        var firstAfter: Duration?
        do {
            try waitUntil("an event from the new primary", timeout: .seconds(90)) {
                _ = try collector.drain(for: .milliseconds(100))
                if collector.events.contains(where: { ($0.commitLSN ?? .zero) > promotedAt }) { firstAfter = clock.now - killed }
                return firstAfter != nil
            }
        } catch {
            writer.stop()
            try? process.stderr.write(toFile: NSTemporaryDirectory() + "walbridge-failover-\(killAfterSeconds).log", atomically: true, encoding: .utf8)
            throw TestFailure("\(error); walbridge's log: \(process.stderr.suffix(3000))")
        }
        Thread.sleep(forTimeInterval: 1)
        writer.stop()
        try drainToSentinel(collector, admin: standby)
        #expect(process.isRunning, "WalBridge followed the promotion by itself")
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        #expect(!process.stderr.contains("does not exist, but checkpoint"), "the synchronised slot continued the checkpoint")

        let table = try standby.query("SELECT id::text, username, email FROM users").rows
        let duplicates = verify(collector.events, table: table)
        print("failover (kill after \(killAfterSeconds) s): \(writer.commits.load(ordering: .relaxed)) writer commits, \(collector.events.count) events, 0 lost, \(duplicates) duplicates, first event from the new primary \(firstAfter!) after the kill")
    }

    @Test("Postgres 17+: without synchronized_standby_slots on the primary, validate warns",
          .enabled(if: TestServer.majorVersion >= 17, "failover slots need Postgres 17 or later"))
    func validateWarnsWithoutSynchronizedStandbySlots() throws {
        let pair = try ReplicaPair(slotSync: false, synchronizedStandbySlots: false)
        let directory = NSTemporaryDirectory() + "walbridge-failover-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try write(configuration(url: pair.multiHostURL, bootstrap: "127.0.0.1:1", checkpoint: directory + "/checkpoint.json",
                                             extra: "  failover_slot: true"), to: directory)
        let validate = try WalBridgeProcess.run(["validate", "--config", config])
        #expect(validate.status == 0, "\(validate.stderr)")
        for expected in ["synchronized_standby_slots is not set", "sync_replication_slots is 'off'", "hot_standby_feedback is 'off'",
                         "transactions that a promoted standby never had"] {
            #expect(validate.stdout.contains(expected), "'\(expected)' in: \(validate.stdout)")
        }
    }

    @Test("before Postgres 17: postgres.failover_slot is refused with exit 2",
          .enabled(if: TestServer.majorVersion < 17, "17 and later support failover slots"))
    func failoverSlotRefusedBefore17() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration(setup.yaml(postgresExtra: "failover_slot: true"))
        let validate = try WalBridgeProcess.run(["validate", "--config", config])
        #expect(validate.status == 2)
        #expect(validate.stderr.contains("postgres.failover_slot needs Postgres 17 or later"), "\(validate.stderr)")
    }

    @Test("Postgres 16+: decoding on a hot standby while the load runs on the primary, then the standby is promoted and streaming goes on",
          .enabled(if: TestServer.majorVersion >= 16, "logical decoding on a standby needs Postgres 16 or later"))
    func decodingOnStandby() throws {
        let pair = try ReplicaPair(slotSync: false, synchronizedStandbySlots: false)
        let cluster = try TestKafkaCluster(brokers: 1)
        try cluster.createTopic(Self.topic, partitions: 1)
        let directory = NSTemporaryDirectory() + "walbridge-standby-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try write(configuration(url: pair.standbyURL, bootstrap: cluster.bootstrapServers, checkpoint: directory + "/checkpoint.json"),
                               to: directory)
        let primary = try pair.admin()
        // Slot creation on a standby waits for a running-transactions record: make one now and again until it is there.
        let process = try WalBridgeProcess(["run", "--config", config])
        try waitUntil("the slot created on the standby", timeout: .seconds(60)) {
            _ = try? primary.query("SELECT pg_log_standby_snapshot()")
            return process.stderr.contains("streaming")
        }
        #expect(process.stderr.contains("creating the replication slot on a standby"))
        let collector = try EventCollector(bootstrapServers: cluster.bootstrapServers, topic: Self.topic)
        let writer = MixedWriter(conninfo: "host=\(pair.primary.directory) port=\(pair.primary.port) user=postgres dbname=auth", prefix: "primary")
        Thread.sleep(forTimeInterval: 1.5)
        writer.stop()
        try drainToSentinel(collector, admin: primary)
        let standby = try pair.admin(standby: true)
        try waitUntil("the standby replayed everything", timeout: .seconds(30)) {
            try standby.query("SELECT count(*) FROM users WHERE username = 'sentinel'").rows[0][0] == "1"
        }
        _ = verify(collector.events, table: try standby.query("SELECT id::text, username, email FROM users").rows)

        let status = try WalBridgeProcess.run(["status", "--config", config, "--json"])
        #expect(status.stdout.contains(#""serverRole": "standby""#), "\(status.stdout)")
        let snapshot = try WalBridgeProcess.run(["snapshot", "--config", config])
        #expect(snapshot.status == 2 && snapshot.stderr.contains("postgres.primary_url"), "\(snapshot.stderr)")

        try pair.killPrimary()
        try pair.promoteStandby()
        try standby.query("DELETE FROM users WHERE username = 'sentinel'")
        try drainToSentinel(collector, admin: standby)
        #expect(process.isRunning, "streaming went on after the promotion")
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let duplicates = verify(collector.events, table: try standby.query("SELECT id::text, username, email FROM users").rows)
        print("decoding on a standby: \(writer.commits.load(ordering: .relaxed)) writer commits, \(collector.events.count) events, \(duplicates) duplicates, then promoted: streaming went on")
    }

    @Test("Postgres 15 and 16: a failover loses the slot; run refuses (exit 2), and the runbook (--recreate-slot) brings consumers back to the table",
          .enabled(if: TestServer.majorVersion < 17, "17 and later keep the slot with failover slots"))
    func failoverWithoutFailoverSlots() throws {
        let pair = try ReplicaPair(slotSync: false, synchronizedStandbySlots: false)
        let cluster = try TestKafkaCluster(brokers: 1)
        try cluster.createTopic(Self.topic, partitions: 1)
        let directory = NSTemporaryDirectory() + "walbridge-failover-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try write(configuration(url: pair.multiHostURL, bootstrap: cluster.bootstrapServers, checkpoint: directory + "/checkpoint.json"),
                               to: directory)
        let collector = try EventCollector(bootstrapServers: cluster.bootstrapServers, topic: Self.topic)
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let writer = MixedWriter(
            conninfo: "host=\(pair.primary.directory),\(pair.standbyDirectory) port=\(pair.primary.port),\(pair.standbyPort) user=postgres dbname=auth target_session_attrs=primary",
            prefix: "load")
        Thread.sleep(forTimeInterval: 1)
        try pair.killPrimary()
        try pair.promoteStandby()
        #expect(try process.waitForExit(timeout: .seconds(90)) == 2, "the lost slot is refused, not recreated: \(process.stderr.suffix(1500))")
        #expect(process.stderr.contains("does not exist, but checkpoint"), "\(process.stderr.suffix(1500))")
        Thread.sleep(forTimeInterval: 0.5)
        writer.stop()

        // The runbook: --recreate-slot, then consumers converge on the table (deletes of the gap aside).
        let recreated = try WalBridgeProcess(["run", "--config", config, "--recreate-slot"])
        try recreated.waitForLog("replication slot recreated with --recreate-slot")
        try waitUntil("the gap to heal", timeout: .seconds(90)) {
            _ = try collector.drain(for: .milliseconds(100))
            return try CheckpointStore(path: directory + "/checkpoint.json").load()?.gap == nil
        }
        let standby = try pair.admin(standby: true)
        try drainToSentinel(collector, admin: standby)
        recreated.signal(SIGTERM)
        #expect(try recreated.waitForExit() == 0)
        let rows = try standby.query("SELECT id::text, username, email FROM users").rows
        var last: [String: ReceivedEvent] = [:]
        for event in collector.events { if let key = event.key { last[key] = event } }
        for row in rows {
            #expect(last[row[0]!]?.data?["email"] as? String == row[2], "user \(row[0]!): the last event matches the table after the backfill")
        }
        print("failover without failover slots: refused with exit 2; after --recreate-slot \(rows.count) rows match the table")
    }
}
