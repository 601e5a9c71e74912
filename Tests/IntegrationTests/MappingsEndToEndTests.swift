import EventMapping
import Foundation
import Logging
import PostgresReplication
import Testing
import WalBridge

/// Issue 5, items 6, 7 and 8: several mappings at once, composite keys in a
/// schema that needs quoting, schema versions, TRUNCATE, tombstones, outbox
/// rows and logical messages, each checked against its generated JSON Schema.
@Suite("Several mappings, outbox and messages end to end", .serialized)
struct MappingsEndToEndTests {
    static let schemaSQL = """
        CREATE TABLE projects (project_id int PRIMARY KEY, name text NOT NULL, owner_id bigint, budget numeric(12,2));
        CREATE SCHEMA "Sales Schema";
        CREATE TABLE "Sales Schema"."Order Items" (order_id int, line int, sku text NOT NULL, PRIMARY KEY (order_id, line));
        CREATE TABLE outbox (id bigserial PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
                             type text NOT NULL, payload jsonb NOT NULL);
        CREATE PUBLICATION walbridge FOR TABLE users (id, username, first_name, last_name, email),
            projects, "Sales Schema"."Order Items", outbox;
        GRANT USAGE ON SCHEMA "Sales Schema" TO walbridge;
        GRANT SELECT ON projects, "Sales Schema"."Order Items", outbox TO walbridge;
        """

    static let mappings = """
      - table: public.users
        topic: auth.users.events
        key: [id]
        events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
        fields: {id: userId, username: username, email: email}
      - table: public.projects
        topic: pm.projects.events
        key: [project_id]
        events: {insert: ProjectCreated, update: ProjectUpdated, delete: ProjectDeleted}
        schema_version: 2
        tombstones: true
        truncate: ProjectsTruncated
        fields: {project_id: projectId, name: name, owner_id: ownerId, budget: budget}
      - table: '"Sales Schema"."Order Items"'
        topic: sales.items
        key: [order_id, line]
        events: {insert: ItemAdded, delete: ItemRemoved}
        fields: {order_id: orderId, line: line, sku: sku}
      - kind: outbox
        table: public.outbox
        topic: outbox.{aggregate_type}
        schema_version: 3
      - kind: message
        prefix: walbridge
        topic: app.messages
        event: Pinged
    """

    static let topics = ["auth.users.events", "pm.projects.events", "sales.items", "outbox.Order", "app.messages"]

    @Test("each mapping publishes to its topic with its key, names and version, valid against its schema")
    func severalMappings() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(Self.schemaSQL)
        let configuration = try setup.configuration(mappings: Self.mappings)
        let schemas = try SourceSchemas.eventSchemas(configuration, logger: Logger(label: "test"))
        let bridge = try setup.startBridge(mappings: Self.mappings, topics: Self.topics)
        let collectors = try Dictionary(uniqueKeysWithValues: Self.topics.map { ($0, try setup.collector(topic: $0)) })

        let userID = try setup.insertUser("ada")
        try db.sql("INSERT INTO projects VALUES (7, 'Engine', \(userID), 1234.50)")
        try db.sql("UPDATE projects SET name = 'Analytical Engine' WHERE project_id = 7")
        try db.sql("DELETE FROM projects WHERE project_id = 7")
        try db.sql(#"INSERT INTO "Sales Schema"."Order Items" VALUES (100, 1, 'SKU-1'), (100, 2, 'SKU-2')"#)
        try db.sql(#"DELETE FROM "Sales Schema"."Order Items" WHERE line = 2"#)
        try db.sql("""
            BEGIN;
            INSERT INTO outbox (aggregatetype, aggregateid, type, payload) VALUES ('Order', 'o-1', 'OrderPlaced', '{"total": 12.50, "items": [1, 2]}');
            SELECT pg_logical_emit_message(true, 'walbridge', '{"ping": 1}');
            SELECT pg_logical_emit_message(true, 'other-prefix', '{"ignored": true}');
            DELETE FROM outbox;
            COMMIT;
            """)
        try db.sql("INSERT INTO projects VALUES (8, 'Mill', NULL, NULL)")
        try db.sql("TRUNCATE projects, users CASCADE")

        let users = try collectors["auth.users.events"]!.collect(count: 1)
        // ProjectCreated, ProjectUpdated, ProjectDeleted, tombstone, ProjectCreated, ProjectsTruncated.
        let projects = try collectors["pm.projects.events"]!.collect(count: 6)
        let items = try collectors["sales.items"]!.collect(count: 3)
        let outbox = try collectors["outbox.Order"]!.collect(count: 1)
        _ = try collectors["app.messages"]!.collect(count: 1)
        #expect(try bridge.stopAndWait() == nil)
        // Exactly these, and nothing more on any topic.
        #expect(try collectors["auth.users.events"]!.collectAll().count == users.count)
        #expect(try collectors["pm.projects.events"]!.collectAll().count == projects.count)
        #expect(try collectors["sales.items"]!.collectAll().count == items.count)
        #expect(try collectors["outbox.Order"]!.collectAll().count == outbox.count)
        let messages = try collectors["app.messages"]!.collectAll()

        // users: its own topic and names; the TRUNCATE of users is skipped (logged, not published).
        #expect(users.map(\.eventType) == ["UserRegistered"])
        #expect(users.first?.data?.keys.sorted() == ["email", "userId", "username"])

        // projects: keyed by project_id, version 2, tombstone after the delete, truncate event.
        try #require(projects.count == 6)
        let ordered = projects.sorted { ($0.record.partition, $0.record.offset) < ($1.record.partition, $1.record.offset) }
        let seven = ordered.filter { $0.key == "7" }
        #expect(seven.map { $0.record.value == nil ? "tombstone" : $0.eventType ?? "?" }
                == ["ProjectCreated", "ProjectUpdated", "ProjectDeleted", "tombstone"])
        #expect(seven.first?.data?["budget"] as? String == "1234.50")
        #expect(seven.first?.header("schema-version") == "2")
        #expect(seven.first?.envelope["schemaVersion"] as? Int == 2)
        #expect(projects.first { $0.key == "8" }?.data?["ownerId"] is NSNull)
        let truncate = try #require(projects.first { $0.eventType == "ProjectsTruncated" })
        #expect(truncate.key == nil)
        #expect(truncate.data?["cascade"] as? Bool == true)
        #expect(truncate.data?["restartIdentity"] as? Bool == false)

        // Composite key in a quoted schema: a JSON object key with the published names.
        try #require(items.count == 3)
        let added = items.filter { $0.eventType == "ItemAdded" }
        #expect(Set(added.compactMap(\.key)) == [#"{"orderId":100,"line":1}"#, #"{"orderId":100,"line":2}"#])
        #expect(added.first?.source?["schema"] as? String == "Sales Schema")
        #expect(added.first?.source?["table"] as? String == "Order Items")
        let removed = try #require(items.first { $0.eventType == "ItemRemoved" })
        #expect(removed.key == #"{"orderId":100,"line":2}"#)
        #expect(removed.data?.count == 2, "a delete under DEFAULT carries the key fields only")

        // Outbox: the row's own type, payload as data, aggregate id as key; the delete publishes nothing.
        try #require(outbox.count == 1)
        #expect(outbox[0].eventType == "OrderPlaced")
        #expect(outbox[0].key == "o-1")
        #expect(outbox[0].envelope["schemaVersion"] as? Int == 3)
        #expect(canonicalJSON(outbox[0].envelope["data"]) == canonicalJSON(try parseJSON(#"{"total": 12.50, "items": [1, 2]}"#)))

        // Logical message: only the configured prefix, in its transaction (same commit LSN as the outbox row).
        #expect(messages.map(\.eventType) == ["Pinged"])
        #expect(canonicalJSON(messages.first?.envelope["data"]) == canonicalJSON(["ping": 1]))
        #expect(messages.first?.source?["lsn"] as? String == outbox[0].source?["lsn"] as? String)
        #expect(!messages.contains { $0.rawValue.contains("ignored") })

        // Every event id is distinct (the message's id does not collide with the outbox row's).
        let all = users + projects.filter { $0.record.value != nil } + items + outbox + messages
        #expect(Set(all.compactMap(\.eventID)).count == all.count)

        // Item 8: every real event is valid against its generated schema.
        for event in all {
            let key = event.source?["prefix"] == nil && event.source?["table"] as? String == "outbox" ? "*" : event.eventType
            let schema = try #require(schemas.first { $0.eventType == key }, "no schema for \(event.eventType ?? "?")")
            let problems = JSONSchemaCheck.errors(event.envelope, against: schema.schema)
            #expect(problems.isEmpty, "\(event.eventType ?? "?") violates its schema: \(problems)")
        }
        // And the schemas are strict enough to reject what must not be there.
        let registered = try #require(schemas.first { $0.eventType == "UserRegistered" })
        var leaked = try #require(users.first).envelope
        leaked["data"] = (users.first?.data ?? [:]).merging(["passwordHash": "x"]) { $1 }
        #expect(!JSONSchemaCheck.errors(leaked, against: registered.schema).isEmpty)
    }
}
