import Foundation
import Testing
import WalBridge

/// The core path of issue 3 against a real Postgres 15 and the test broker:
/// users changes become UserRegistered / UserUpdated / UserDeleted events.
@Suite("Core flow: users → Kafka", .serialized)
struct CoreFlowTests {
    @Test("insert, update and delete give exactly three events, in order, per the contract")
    func insertUpdateDelete() throws {
        let setup = try BridgeTestSetup()
        let bridge = try setup.startBridge()
        let collector = try setup.collector()

        let id = try setup.insertUser("ada")
        try setup.database.sql("UPDATE users SET last_name = 'King', password_hash = 'changed' WHERE id = \(id)")
        try setup.database.sql("DELETE FROM users WHERE id = \(id)")

        let events = try collector.collect(count: 3)
        #expect(try bridge.stopAndWait() == nil)
        let all = try collector.collectAll()
        #expect(all.count == 3, "exactly three events, got \(all.count)")
        try #require(events.count == 3)

        #expect(events.map(\.eventType) == ["UserRegistered", "UserUpdated", "UserDeleted"])
        for event in events {
            #expect(event.key == "\(id)")
            #expect(event.header("event-type") == event.eventType)
            #expect(event.header("event-id") == event.eventID)
            #expect(event.header("schema-version") == "1")
            #expect(event.header("content-type") == "application/json")
            #expect(event.envelope["schemaVersion"] as? Int == 1)
            #expect(event.source?["database"] as? String == setup.database.name)
            #expect(event.source?["schema"] as? String == "public")
            #expect(event.source?["table"] as? String == "users")
            let raw = String(decoding: event.record.value ?? [], as: UTF8.self)
            #expect(!raw.contains("password"), "no password_hash may leave the database")
            #expect(!raw.contains("secret-hash"))
            #expect(!raw.contains("created_at"))
        }
        // All three changes of one key land on one partition, in commit order.
        #expect(Set(events.map(\.record.partition)).count == 1)
        #expect(events.map(\.record.offset) == events.map(\.record.offset).sorted())

        let registered = try #require(events[0].data)
        #expect(registered["userId"] as? Int == id)
        #expect(registered["username"] as? String == "ada")
        #expect(registered["firstName"] as? String == "First ada")
        #expect(registered["lastName"] as? String == "Last ada")
        #expect(registered["email"] as? String == "ada@example.com")
        #expect(registered.count == 5)
        #expect(events[1].data?["lastName"] as? String == "King")
        // REPLICA IDENTITY DEFAULT: a delete carries the key only; the other fields are absent.
        #expect(events[2].data?["userId"] as? Int == id)
        #expect(events[2].data?.count == 1)

        // Event ids are UUIDv5 strings, distinct per change.
        let ids = events.compactMap(\.eventID)
        #expect(Set(ids).count == 3)
        #expect(ids.allSatisfy { UUID(uuidString: $0) != nil && $0[$0.index($0.startIndex, offsetBy: 14)] == "5" })
        // The envelope's LSN is the commit LSN in X/Y form, and occurredAt is RFC 3339 UTC with microseconds.
        let lsn = try #require(events[0].source?["lsn"] as? String)
        #expect(lsn.range(of: #"^[0-9A-F]+/[0-9A-F]+$"#, options: .regularExpression) != nil)
        let occurredAt = try #require(events[0].envelope["occurredAt"] as? String)
        #expect(occurredAt.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression) != nil)
    }

    @Test("a 1,000-row transaction gives 1,000 events")
    func largeTransaction() throws {
        let setup = try BridgeTestSetup()
        let bridge = try setup.startBridge()
        let collector = try setup.collector()
        try setup.database.sql("""
            INSERT INTO users (username, email, password_hash)
            SELECT 'user' || g, 'user' || g || '@example.com', 'hash' FROM generate_series(1, 1000) g
            """)
        let events = try collector.collect(count: 1000)
        let end = try setup.database.currentInsertLSN()
        try setup.database.waitForConfirmedFlush(atLeast: end)
        #expect(try bridge.stopAndWait() == nil)
        #expect(try collector.collectAll().count == 1000)
        #expect(events.allSatisfy { $0.eventType == "UserRegistered" })
        #expect(Set(events.compactMap(\.eventID)).count == 1000)
        // One transaction: one commit LSN, ordinals 0…999 give distinct ids.
        #expect(Set(events.compactMap { $0.source?["lsn"] as? String }).count == 1)
    }

    @Test("changes to an unmapped table publish nothing, and its WAL does not hold the slot back")
    func unmappedTable() throws {
        let setup = try BridgeTestSetup()
        try setup.database.sql("CREATE TABLE audit_log (id serial PRIMARY KEY, note text)")
        try setup.database.sql("ALTER PUBLICATION walbridge ADD TABLE audit_log")
        let bridge = try setup.startBridge()
        let collector = try setup.collector()
        try setup.database.sql("INSERT INTO audit_log (note) SELECT 'n' || g FROM generate_series(1, 100) g")
        let id = try setup.insertUser("marker")
        let events = try collector.collect(count: 1)
        let end = try setup.database.currentInsertLSN()
        try setup.database.waitForConfirmedFlush(atLeast: end)
        #expect(try bridge.stopAndWait() == nil)
        let all = try collector.collectAll()
        #expect(all.count == 1)
        #expect(events.first?.key == "\(id)")
    }

    @Test("stop and restart: nothing checkpointed is published again, changes made while down arrive")
    func restartResumesFromCheckpoint() throws {
        let setup = try BridgeTestSetup()
        var bridge = try setup.startBridge()
        let collector = try setup.collector()
        try setup.insertUser("before1")
        try setup.insertUser("before2")
        try collector.collect(count: 2)
        #expect(try bridge.stopAndWait() == nil)
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(checkpoint.systemID.isEmpty == false)

        try setup.insertUser("while_down1")
        try setup.insertUser("while_down2")

        bridge = try setup.startBridge()
        let events = try collector.collect(count: 4)
        try setup.insertUser("after")
        _ = try collector.collect(count: 5)
        #expect(try bridge.stopAndWait() == nil)
        let all = try collector.collectAll()
        // Different keys may sit on different partitions: compare in commit order.
        let inCommitOrder = all.sorted { ($0.commitLSN ?? .zero) < ($1.commitLSN ?? .zero) }
        #expect(inCommitOrder.map(\.username) == ["before1", "before2", "while_down1", "while_down2", "after"])
        #expect(Set(all.compactMap(\.eventID)).count == 5, "no event published twice")
        _ = events
    }
}
