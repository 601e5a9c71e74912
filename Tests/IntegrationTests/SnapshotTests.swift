import Configuration
import EventMapping
import Foundation
import PostgresReplication
import Testing
import WalBridge

/// Issue 8: backfill. Existing rows become snapshot events, exactly once per
/// row; an interrupted snapshot resumes at its last unfinished chunk; changes
/// committed during a snapshot never leave an older state after a newer one.
@Suite("Snapshot (backfill)", .serialized)
struct SnapshotTests {
    /// Inserts `count` users in one statement; returns nothing.
    func populate(_ setup: BridgeTestSetup, prefix: String, count: Int) throws {
        try setup.database.sql("""
            INSERT INTO users (username, first_name, email, password_hash)
            SELECT '\(prefix)' || g, 'First' || g, '\(prefix)' || g || '@example.com', 'secret-hash-' || g
            FROM generate_series(1, \(count)) g
            """)
    }

    func userIDs(_ setup: BridgeTestSetup) throws -> [Int] {
        try setup.database.sql("SELECT id FROM users ORDER BY id").rows.map { Int($0[0]!)! }
    }

    @Test("walbridge snapshot publishes exactly one event per row, as the snapshot event, then exits")
    func oneEventPerRow() throws {
        let setup = try BridgeTestSetup()
        try populate(setup, prefix: "snap", count: 2_500)
        let ids = try userIDs(setup)
        var options = BridgeTestSetup.testOptions()
        options.snapshot = SnapshotRequest(tables: [], filter: nil)
        let bridge = RunningBridge(
            configuration: try setup.configuration(mappingExtra: "    snapshot: {event: UserSnapshotted, chunk_size: 1000}"),
            options: options)
        #expect(try bridge.wait(timeout: .seconds(60)) == nil, "the snapshot command returns once every row is delivered")

        let events = try setup.collector().collectAll()
        #expect(events.count == ids.count, "one event per row, no more")
        let keys = events.compactMap(\.key)
        #expect(Set(keys) == Set(ids.map(String.init)), "every row's key, each once")
        #expect(Set(keys).count == keys.count)
        for event in events.prefix(50) {
            #expect(event.eventType == "UserSnapshotted")
            #expect(event.source?["snapshot"] as? Bool == true)
            #expect(event.data?["password_hash"] == nil && event.data?["passwordHash"] == nil)
            #expect(event.data?["userId"] as? Int == Int(event.key ?? ""))
            #expect((event.data?["username"] as? String)?.hasPrefix("snap") == true)
            #expect(event.header("event-type") == "UserSnapshotted")
            #expect(event.eventID == event.header("event-id"))
        }
        #expect(Set(events.compactMap(\.eventID)).count == events.count, "distinct event ids")
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(checkpoint.snapshot.job == nil, "the job is finished and gone from the checkpoint")
    }

    @Test("snapshot: initial runs once at the first start while streaming goes on, and never again")
    func initialModeRunsOnce() throws {
        let setup = try BridgeTestSetup()
        try populate(setup, prefix: "old", count: 1_200)
        let configuration = try setup.configuration(mappingExtra: "    snapshot: {mode: initial, chunk_size: 500}")
        let collector = try setup.collector()
        let first = try setup.startBridge(configuration: configuration)
        let live = try setup.insertUser("live-during-snapshot")
        try waitUntil("1,201 events", timeout: .seconds(60)) { try collector.collect(count: 1_201, timeout: .milliseconds(200)).count >= 1_201 }
        try waitUntil("the initial snapshot is checkpointed as done", timeout: .seconds(30)) {
            try CheckpointStore(path: setup.checkpointPath).load()?.snapshot.completedInitial.map(\.description) == ["public.users"]
        }
        #expect(try first.stopAndWait() == nil)
        let baseline = try collector.collectAll().count
        let snapshotEvents = collector.events.filter { $0.source?["snapshot"] as? Bool == true }
        #expect(snapshotEvents.count == 1_200 || snapshotEvents.count == 1_201, "every old row (the live one may be in a chunk too)")
        #expect(snapshotEvents.allSatisfy { $0.eventType == "UserRegistered" }, "the snapshot event defaults to the insert event")
        #expect(collector.events.contains { $0.key == String(live) && $0.source?["snapshot"] == nil }, "the live insert streamed")

        let second = try setup.startBridge(configuration: configuration)
        try setup.insertUser("after-restart")
        try collector.collect(count: baseline + 1, timeout: .seconds(30))
        #expect(try second.stopAndWait() == nil)
        let after = try collector.collectAll()
        #expect(after.count == baseline + 1, "only the new insert after a restart: no second snapshot")
        #expect(after.last?.data?["username"] as? String == "after-restart")
    }

    @Test("updates, deletes and inserts during a snapshot never leave an older state after a newer one")
    func concurrentChangesNeverRegress() throws {
        let setup = try BridgeTestSetup()
        try populate(setup, prefix: "c", count: 20_000)
        let configuration = try setup.configuration(mappingExtra: "    snapshot: {mode: initial, chunk_size: 500}")
        let collector = try setup.collector()
        let bridge = try setup.startBridge(configuration: configuration)
        // The slot is active already while it is being created; only a streamed
        // change proves that the writer's changes will be streamed too.
        let warmUp = String(try setup.insertUser("warm-up"))
        try waitUntil("the warm-up row streamed", timeout: .seconds(60)) {
            try collector.collect(count: Int.max, timeout: .milliseconds(100)).contains { $0.key == warmUp && $0.source?["snapshot"] == nil }
        }
        // Changes spread over the whole key range while the chunks are read.
        let writer = BackgroundSQL(database: setup.database.name, """
            DO $$ DECLARE n int := 0; m int; BEGIN
              WHILE n < 3000 LOOP
                n := n + 1;
                m := 1 + (random() * 19999)::int;
                IF n % 10 = 0 THEN
                  DELETE FROM users WHERE id = m;
                ELSIF n % 10 = 1 THEN
                  INSERT INTO users (username, email, password_hash) VALUES ('new' || n, 'new' || n || '@example.com', 'h');
                ELSE
                  UPDATE users SET first_name = 'v' || n, email = 'v' || n || '@example.com' WHERE id = m;
                END IF;
                COMMIT;
              END LOOP;
            END $$
            """)
        try writer.wait()
        let end = try setup.database.currentInsertLSN()
        try waitUntil("the initial snapshot is done", timeout: .seconds(120)) {
            _ = try collector.drain(for: .milliseconds(100))
            return try CheckpointStore(path: setup.checkpointPath).load()?.snapshot.completedInitial.isEmpty == false
        }
        try setup.database.waitForConfirmedFlush(atLeast: end, timeout: .seconds(60))
        #expect(try bridge.stopAndWait() == nil)
        _ = try collector.collectAll()

        // The last event of every key must be the table's state now.
        var last: [String: ReceivedEvent] = [:]
        for event in collector.events { if let key = event.key { last[key] = event } }
        let rows = try setup.database.sql("SELECT id, first_name, email FROM users").rows
        var table: [String: (String?, String?)] = [:]
        for row in rows { table[row[0]!] = (row[1], row[2]) }
        var regressions: [String] = []
        for (key, state) in table {
            guard let event = last[key] else { regressions.append("\(key): no event"); continue }
            if event.eventType == "UserDeleted" || event.data?["firstName"] as? String != state.0
                || event.data?["email"] as? String != state.1 {
                regressions.append("\(key): last event \(event.eventType ?? "?") \(event.data ?? [:]) but the row is \(state)")
            }
        }
        for (key, event) in last where table[key] == nil && event.eventType != "UserDeleted" {
            regressions.append("\(key): deleted, but the last event is \(event.eventType ?? "?")")
        }
        #expect(collector.skipped.isEmpty, "the test broker trimmed records before they were read: \(collector.skipped)")
        #expect(regressions.isEmpty, "\(regressions.count) keys end in an older state, e.g. \(regressions.prefix(5))")
        let snapshotRows = collector.events.filter { $0.source?["snapshot"] as? Bool == true }.count
        print("snapshot during 3,000 concurrent changes: \(snapshotRows) snapshot events for 20,000 rows, \(collector.events.count - snapshotRows) streamed, \(regressions.count) regressions")
    }

    @Test("SIGKILL mid-snapshot: the next run resumes at the last unfinished chunk; every row arrives; duplicates only from it, same ids")
    func killAndResume() throws {
        let setup = try BridgeTestSetup()
        try populate(setup, prefix: "k", count: 30_000)
        let ids = try userIDs(setup)
        let config = try setup.writeConfiguration(setup.yaml(mappingExtra: "    snapshot: {chunk_size: 1000}"))
        let collector = try setup.collector()
        let first = try WalBridgeProcess(["snapshot", "--config", config])
        try waitUntil("a few chunks checkpointed", timeout: .seconds(60), interval: .milliseconds(5)) {
            (try? CheckpointStore(path: setup.checkpointPath).load())??.snapshot.job?.rowsDone ?? 0 >= 3_000
        }
        first.signal(SIGKILL)
        #expect(try first.waitForExit() == 128 + SIGKILL)
        let atKill = try #require(try CheckpointStore(path: setup.checkpointPath).load()?.snapshot.job)
        let resumeAfter = try #require(Int(atKill.tables[0].lastKey?.first ?? ""))
        #expect(atKill.tables[0].done == false)
        // What the killed run got onto the broker past the checkpointed key: the only rows that may come twice.
        _ = try collector.collectAll()
        let sentBeyondCheckpoint = Set(collector.events.compactMap(\.key).filter { Int($0)! > resumeAfter })

        let status = try WalBridgeProcess.run(["status", "--config", config, "--json"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("\"snapshot\""), "status shows the unfinished snapshot: \(status.stdout)")

        let second = try WalBridgeProcess(["snapshot", "--config", config])
        #expect(try second.waitForExit(timeout: .seconds(120)) == 0, "the resumed snapshot finishes: \(second.stderr)")
        #expect(second.stderr.contains("resuming"), "it says it resumes")
        let events = try collector.collectAll()
        var byKey: [String: [ReceivedEvent]] = [:]
        for event in events { if let key = event.key { byKey[key, default: []].append(event) } }
        let missing = ids.filter { byKey[String($0)] == nil }
        #expect(missing.isEmpty, "\(missing.count) rows never arrived")
        let duplicated = byKey.filter { $0.value.count > 1 }
        for (key, copies) in duplicated {
            #expect(Int(key)! > resumeAfter, "key \(key) was in a checkpointed chunk (up to \(resumeAfter)) yet sent again")
            #expect(Set(copies.compactMap(\.eventID)).count == 1, "a row sent again carries the same event id")
        }
        #expect(Set(duplicated.keys).isSubset(of: sentBeyondCheckpoint),
                "duplicates only of rows the killed run published past its checkpoint: \(duplicated.count) duplicates, \(sentBeyondCheckpoint.count) such rows")
        print("snapshot killed after \(atKill.rowsDone) checkpointed rows: \(ids.count) rows all present, \(duplicated.count) duplicates")
    }

    @Test("an unmapped table, an outbox table or a bad --where is refused with exit 2 and a clear message")
    func refusals() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let unmapped = try WalBridgeProcess.run(["snapshot", "--config", config, "--table", "public.orders"])
        #expect(unmapped.status == 2)
        #expect(unmapped.stderr.contains("public.orders is not mapped"), "\(unmapped.stderr)")
        #expect(unmapped.stderr.contains("public.users"), "it lists the mapped tables")
        let badWhere = try WalBridgeProcess.run(["snapshot", "--config", config, "--where", "no_such_column > 1"])
        #expect(badWhere.status == 2)
        #expect(badWhere.stderr.contains("--where"), "\(badWhere.stderr)")
    }

    @Test("walbridge snapshot next to a running bridge hands the job to it and follows it; a bad request is refused")
    func handOffToRunningBridge() throws {
        let setup = try BridgeTestSetup()
        try populate(setup, prefix: "h", count: 5_000)
        let config = try setup.writeConfiguration()
        let collector = try setup.collector()
        let bridge = try setup.startBridge()
        let live = try setup.insertUser("live-before-request")
        try collector.collect(count: 1)

        let refused = try WalBridgeProcess.run(["snapshot", "--config", config, "--where", "no_such_column = 1"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("refused") && refused.stderr.contains("no_such_column"), "\(refused.stderr)")

        let snapshot = try WalBridgeProcess.run(["snapshot", "--config", config, "--table", "public.users"], timeout: .seconds(120))
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
        #expect(snapshot.stderr.contains("asked it to backfill") && snapshot.stderr.contains("finished"), "\(snapshot.stderr)")
        try collector.collect(count: 5_002, timeout: .seconds(30))
        #expect(try bridge.stopAndWait() == nil, "the running bridge never stopped streaming")
        let events = try collector.collectAll()
        let snapshotEvents = events.filter { $0.source?["snapshot"] as? Bool == true }
        #expect(Set(snapshotEvents.compactMap(\.key)).count == 5_001, "every row, the live one included")
        #expect(snapshotEvents.count == 5_001)
        #expect(events.contains { $0.key == String(live) && $0.source?["snapshot"] == nil })
        #expect(!FileManager.default.fileExists(atPath: setup.checkpointPath + ".snapshot-request"), "the request was consumed")
    }

    @Test("a row the mapping refuses goes to the dead-letter topic and the snapshot goes on; without one it stops, naming the row")
    func unmappableRow() throws {
        let setup = try BridgeTestSetup()
        try setup.insertUser("first")
        try setup.database.sql("INSERT INTO users (username, email, password_hash) VALUES ('no-last-name', 'n@example.com', 'secret-hash')")
        try setup.insertUser("third")
        let deadLetterTopic = "walbridge.dlq"
        try setup.cluster.createTopic(deadLetterTopic, partitions: 1)
        // A composite key with the nullable last_name: the row without one has no key.
        let yaml = setup.yaml(kafkaExtra: "dead_letter_topic: \(deadLetterTopic)").replacingOccurrences(of: "key: [id]", with: "key: [id, last_name]")
        var options = BridgeTestSetup.testOptions()
        options.snapshot = SnapshotRequest(tables: [], filter: nil)
        let bridge = RunningBridge(configuration: try BridgeConfiguration.parse(yaml: yaml, source: "test.yaml", environment: [:]), options: options)
        #expect(try bridge.wait(timeout: .seconds(60)) == nil)
        let events = try setup.collector().collectAll()
        #expect(events.map { $0.data?["username"] as? String } .sorted { ($0 ?? "") < ($1 ?? "") } == ["first", "third"])
        let deadLetters = try EventCollector(bootstrapServers: setup.cluster.bootstrapServers, topic: deadLetterTopic).collectAll()
        #expect(deadLetters.count == 1)
        let reason = deadLetters.first?.header("walbridge-error") ?? ""
        #expect(reason.contains("snapshot") && reason.contains("last_name"), "\(reason)")
        #expect(!(deadLetters.first.flatMap { $0.record.value.map { String(decoding: $0, as: UTF8.self) } } ?? "").contains("secret-hash"),
                "an unmapped column never reaches the dead-letter topic")

        let strict = try BridgeTestSetup()
        try strict.database.sql("INSERT INTO users (username, email, password_hash) VALUES ('no-last-name', 'n@example.com', 'h')")
        let strictYAML = strict.yaml().replacingOccurrences(of: "key: [id]", with: "key: [id, last_name]")
        let failing = RunningBridge(configuration: try BridgeConfiguration.parse(yaml: strictYAML, source: "test.yaml", environment: [:]), options: options)
        let error = try failing.wait(timeout: .seconds(60))
        #expect(error?.message.contains("dead_letter_topic") == true, "\(String(describing: error))")
    }
}
