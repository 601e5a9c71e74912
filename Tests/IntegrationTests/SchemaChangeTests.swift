import Configuration
import EventMapping
import Foundation
import Logging
import PostgresReplication
import Testing
import WalBridge

/// Issue 5, items 4 and 5: ALTER TABLE while the bridge runs, and the
/// allowlist pushed into Postgres (column lists, row filters).
@Suite("Schema changes mid-stream and publication column lists", .serialized)
struct SchemaChangeTests {
    static let itemsMapping = """
      - table: public.items
        topic: items.events
        key: [id]
        events: {insert: ItemCreated, update: ItemUpdated, delete: ItemDeleted}
        fields: {id: id, qty: quantity, note: note}
    """

    @Test("ADD, ALTER TYPE, RENAME and DROP COLUMN apply from the next change, never leak, never crash")
    func alterTableWhileStreaming() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        // A publication made by hand, with every column: WalBridge filters itself.
        try db.sql("""
            CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text, secret text);
            CREATE PUBLICATION walbridge FOR TABLE items;
            """)
        try setup.grant("items")
        let bridge = try setup.startBridge(mappings: Self.itemsMapping, topics: ["items.events"])
        let collector = try setup.collector(topic: "items.events")

        try db.sql("INSERT INTO items VALUES (1, 5, 'first', 'hidden-1')")
        try db.sql("ALTER TABLE items ADD COLUMN leak text DEFAULT 'new-col'")
        try db.sql("INSERT INTO items VALUES (2, 6, 'second', 'hidden-2', 'leak-2')")
        try db.sql("ALTER TABLE items ALTER COLUMN qty TYPE numeric(10,2)")
        try db.sql("INSERT INTO items VALUES (3, 7, 'third', 'hidden-3', 'leak-3')")
        try db.sql("ALTER TABLE items RENAME COLUMN note TO remark")
        try db.sql("INSERT INTO items VALUES (4, 8, 'fourth', 'hidden-4', 'leak-4')")
        try db.sql("ALTER TABLE items DROP COLUMN qty")
        try db.sql("UPDATE items SET remark = 'changed' WHERE id = 4")
        try db.sql("ALTER TABLE items ADD COLUMN note text")
        try db.sql("INSERT INTO items (id, note, remark) VALUES (6, 'a new note', 'r')")

        let events = try collector.collect(count: 6)
        #expect(try bridge.stopAndWait() == nil, "the bridge keeps running through every ALTER TABLE")
        try #require(events.count == 6)
        #expect(try collector.collectAll().count == 6)
        let byID = Dictionary(uniqueKeysWithValues: events.filter { $0.eventType == "ItemCreated" }.map { ($0.data?["id"] as? Int ?? -1, $0) })

        // Unmapped columns, old or new, never leave.
        for event in events {
            #expect(!event.rawValue.contains("hidden"))
            #expect(!event.rawValue.contains("leak"))
            #expect(!event.rawValue.contains("new-col"))
            #expect(Set((event.data ?? [:]).keys).isSubset(of: ["id", "quantity", "note"]))
        }
        #expect(byID[1]?.data?["quantity"] as? Int == 5)
        #expect(byID[2]?.data?["quantity"] as? Int == 6)
        // After ALTER TYPE the new type's encoding applies: numeric is an exact string.
        #expect(byID[3]?.data?["quantity"] as? String == "7.00")
        #expect(byID[3]?.data?["note"] as? String == "third")
        // Renamed: the mapped name is gone, so the field is unavailable, and the new name does not leak.
        #expect(byID[4]?.data?["note"] == nil)
        #expect(byID[4]?.data?["quantity"] as? String == "8.00")
        let updates = events.filter { $0.eventType == "ItemUpdated" }
        try #require(updates.count == 1)
        #expect(!updates[0].rawValue.contains("changed"), "the renamed column's value must not appear")
        // Dropped: unavailable as well, never null.
        #expect(updates[0].data?["quantity"] == nil)
        #expect(Set(updates[0].envelope["unavailableFields"] as? [String] ?? []) == ["quantity", "note"])
        // A column that comes back under the mapped name is published again.
        #expect(byID[6]?.data?["note"] as? String == "a new note")
        #expect(byID[6]?.envelope["unavailableFields"] as? [String] == ["quantity"])
    }

    @Test("WalBridge's publication has a column list, so password_hash never leaves Postgres")
    func columnListKeepsExcludedColumnsInTheDatabase() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        // The bridge's role owns the table, so it may create the publication itself.
        try db.sql("ALTER TABLE users OWNER TO walbridge; GRANT CREATE ON DATABASE \(db.name) TO walbridge")
        try db.sql("SELECT pg_create_logical_replication_slot('peek_\(db.name)', 'pgoutput')")
        defer { _ = try? db.sql("SELECT pg_drop_replication_slot('peek_\(db.name)')") }
        let bridge = try setup.startBridge()
        let collector = try setup.collector()
        let published = try db.sql("SELECT attnames::text FROM pg_publication_tables WHERE pubname = 'walbridge' AND tablename = 'users'")
        #expect(published.rows.first?.first == "{id,username,first_name,last_name,email}")

        let id = try setup.insertUser("grace")
        let events = try collector.collect(count: 1)
        #expect(try bridge.stopAndWait() == nil)
        #expect(events.first?.key == "\(id)")
        #expect(!(events.first?.rawValue.contains("secret-hash") ?? true))

        // What pgoutput itself sends for this publication: the Relation message and
        // the row carry no password_hash, not even its name.
        let changes = try db.sql("""
            SELECT string_agg(encode(data, 'escape'), ' ') FROM pg_logical_slot_peek_binary_changes(
              'peek_\(db.name)', NULL, NULL, 'proto_version', '1', 'publication_names', 'walbridge')
            """)
        let stream = try #require(changes.rows.first?.first ?? nil)
        #expect(stream.contains("username"))
        #expect(stream.contains("grace"))
        #expect(!stream.contains("password_hash"))
        #expect(!stream.contains("secret-hash"))
    }

    @Test("a row filter outside the replica identity is refused with exit 2; one on the key filters rows")
    func rowFilters() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql("ALTER TABLE users OWNER TO walbridge; GRANT CREATE ON DATABASE \(db.name) TO walbridge")
        let bad = try setup.configuration(mappingExtra: "    where: \"username <> 'bot'\"")
        do {
            _ = try SourceValidation.validate(bad, logger: Logger(label: "test"))
            Issue.record("validate must refuse a filter on a column outside the replica identity")
        } catch {
            #expect(error.exitCode == 2)
            #expect(error.message.contains("username"))
            #expect(error.message.contains("replica identity"))
        }
        let refused = RunningBridge(configuration: bad, options: BridgeTestSetup.testOptions())
        let failure = try refused.wait(timeout: .seconds(30))
        #expect(failure?.exitCode == 2)
        // Nothing was created, and the table still takes updates.
        #expect(try db.sql("SELECT count(*) FROM pg_publication").rows.first?.first == "0")
        let id = try setup.insertUser("bot")
        try db.sql("UPDATE users SET email = 'b@example.com' WHERE id = \(id)")

        // A filter on the key is fine and is applied by Postgres.
        let good = setup.yaml(mappingExtra: "    where: \"id % 2 = 0\"")
        let bridge = RunningBridge(
            configuration: try BridgeConfiguration.parse(yaml: good, source: "test.yaml", environment: [:]),
            options: BridgeTestSetup.testOptions())
        try db.waitForActiveSlot()
        let collector = try setup.collector()
        let ids = try (0..<4).map { try setup.insertUser("u\($0)") }
        let events = try collector.collect(count: 2)
        #expect(try bridge.stopAndWait() == nil)
        let all = try collector.collectAll()
        #expect(all.count == 2, "the odd ids are filtered out by Postgres")
        #expect(Set(all.compactMap { $0.data?["userId"] as? Int }) == Set(ids.filter { $0 % 2 == 0 }))
        _ = events
    }

    @Test("the publication DDL quotes schema, table and column names and keeps the row filter")
    func publicationStatementQuoting() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(#"""
            CREATE SCHEMA "we""ird . Schema";
            CREATE TABLE "we""ird . Schema"."Order Items" ("Line No" int PRIMARY KEY, "sku""x" text, hidden text);
            """#)
        let table = PublicationTable(table: QualifiedName(schema: #"we"ird . Schema"#, table: "Order Items"),
                                     columns: ["Line No", #"sku"x"#], rowFilter: #""Line No" > 0"#)
        let statement = db.admin.createPublicationStatement(named: "pub one", tables: [table])
        #expect(statement == #"CREATE PUBLICATION "pub one" FOR TABLE "we""ird . Schema"."Order Items" ("Line No", "sku""x") WHERE ("Line No" > 0)"#)
        try db.admin.createPublication(named: "pub one", tables: [table])
        let published = try db.sql("SELECT schemaname, tablename, attnames::text, rowfilter FROM pg_publication_tables WHERE pubname = 'pub one'")
        #expect(published.rows.first?[0] == #"we"ird . Schema"#)
        #expect(published.rows.first?[1] == "Order Items")
        #expect(published.rows.first?[2] == #"{"Line No","sku\"x"}"#)
        #expect(published.rows.first?[3]?.contains("Line No") == true)
    }
}
