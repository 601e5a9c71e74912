import EventMapping
import Foundation
import Logging
import PostgresReplication
import Testing
import WalBridge

/// Issue 5, items 2 and 3: unchanged TOAST values and the four replica
/// identities, against real Postgres.
@Suite("TOAST and replica identity", .serialized)
struct ReplicaIdentityTests {
    @Test("an unchanged TOASTed value is unavailable under DEFAULT and taken from the old row under FULL")
    func toast() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql("""
            CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body text NOT NULL);
            ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
            CREATE PUBLICATION walbridge FOR TABLE docs;
            """)
        try setup.grant("docs")
        let mappings = """
          - table: public.docs
            topic: docs.events
            key: [id]
            events: {insert: DocCreated, update: DocUpdated, delete: DocDeleted}
            fields: {id: id, title: title, body: body}
        """
        let bridge = try setup.startBridge(mappings: mappings, topics: ["docs.events"])
        let collector = try setup.collector(topic: "docs.events")
        // ~32 KB of random hex: stored out of line (TOAST), uncompressed.
        try db.sql("INSERT INTO docs SELECT 1, 'v1', string_agg(md5(random()::text), '') FROM generate_series(1, 1000)")
        let stored = try #require(try db.sql("SELECT body, pg_column_size(body) > 2048 FROM docs WHERE id = 1").rows.first)
        let body = try #require(stored[0])
        #expect(stored[1] == "t", "the body must be TOASTed for this test to mean anything")
        try db.sql("UPDATE docs SET title = 'v2' WHERE id = 1")
        try db.sql("ALTER TABLE docs REPLICA IDENTITY FULL")
        try db.sql("UPDATE docs SET title = 'v3' WHERE id = 1")
        try db.sql("DELETE FROM docs WHERE id = 1")

        let events = try collector.collect(count: 4)
        #expect(try bridge.stopAndWait() == nil)
        try #require(events.count == 4)
        #expect(events.map(\.eventType) == ["DocCreated", "DocUpdated", "DocUpdated", "DocDeleted"])
        #expect(events[0].data?["body"] as? String == body)

        // DEFAULT: the value is not known: left out, named, never null or made up.
        let v2 = try #require(events[1].data)
        #expect(v2["title"] as? String == "v2")
        #expect(v2["body"] == nil)
        #expect(events[1].envelope["unavailableFields"] as? [String] == ["body"])
        #expect(events[1].envelope["previous"] == nil)

        // FULL: taken from the old row; previous and changedFields are there.
        let v3 = try #require(events[2].data)
        #expect(v3["title"] as? String == "v3")
        #expect(v3["body"] as? String == body)
        #expect(events[2].envelope["unavailableFields"] == nil)
        let previous = try #require(events[2].envelope["previous"] as? [String: Any])
        #expect(previous["title"] as? String == "v2")
        #expect(events[2].envelope["changedFields"] as? [String] == ["title"])
        // A delete under FULL carries the whole old row.
        #expect(events[3].data?["body"] as? String == body)
        #expect(events[3].data?["title"] as? String == "v3")
    }

    static let identityTables = """
        CREATE TABLE ri_default (id int PRIMARY KEY, code text NOT NULL UNIQUE, v text);
        CREATE TABLE ri_full (id int PRIMARY KEY, code text NOT NULL UNIQUE, v text);
        ALTER TABLE ri_full REPLICA IDENTITY FULL;
        CREATE TABLE ri_index (id int PRIMARY KEY, code text NOT NULL, v text);
        CREATE UNIQUE INDEX ri_index_code ON ri_index (code);
        ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_code;
        CREATE TABLE ri_nothing (id int PRIMARY KEY, code text NOT NULL, v text);
        ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
        """

    static func mapping(_ table: String, key: String = "id") -> String {
        """
          - table: public.\(table)
            topic: ri.events
            key: [\(key)]
            events: {insert: Created, update: Updated, delete: Deleted}
            fields: {id: id, code: code, v: v}
        """
    }

    @Test("DEFAULT, FULL, USING INDEX and NOTHING give the documented data, previous and changedFields")
    func identities() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(Self.identityTables)
        for table in ["ri_default", "ri_full", "ri_index", "ri_nothing"] { try setup.grant(table) }
        try db.sql("CREATE PUBLICATION walbridge FOR TABLE ri_default, ri_full, ri_index, ri_nothing")
        let mappings = [Self.mapping("ri_default"), Self.mapping("ri_full"), Self.mapping("ri_index", key: "code"),
                        Self.mapping("ri_nothing")].joined(separator: "\n")

        // validate warns about what each identity cannot give.
        let report = try SourceValidation.validate(try setup.configuration(mappings: mappings), logger: Logger(label: "test"))
        #expect(report.warnings.contains { $0.contains("public.ri_nothing has REPLICA IDENTITY NOTHING") })
        #expect(report.warnings.contains { $0.contains("public.ri_default has REPLICA IDENTITY DEFAULT") && $0.contains("changedFields") })
        #expect(report.warnings.contains { $0.contains("public.ri_index has REPLICA IDENTITY USING INDEX (code)") })
        #expect(!report.warnings.contains { $0.contains("ri_full") })
        // A key outside the identity cannot key deletes: warned.
        let badKey = try SourceValidation.validate(
            try setup.configuration(mappings: Self.mapping("ri_index", key: "id")), logger: Logger(label: "test"))
        #expect(badKey.warnings.contains { $0.contains("key column(s) id are not in the replica identity") })

        let bridge = try setup.startBridge(mappings: mappings, topics: ["ri.events"])
        let collector = try setup.collector(topic: "ri.events")
        for table in ["ri_default", "ri_full", "ri_index"] {
            // One transaction each, so commit LSNs order them across partitions.
            try db.sql("INSERT INTO \(table) VALUES (1, 'c1', 'a')")
            try db.sql("UPDATE \(table) SET v = 'b' WHERE id = 1")
            try db.sql("UPDATE \(table) SET code = 'c2' WHERE id = 1")
            try db.sql("DELETE FROM \(table) WHERE id = 1")
        }
        try db.sql("INSERT INTO ri_nothing VALUES (1, 'c1', 'a')")
        // Postgres itself refuses an update of a published table without replica identity.
        #expect(throws: (any Error).self) { try db.sql("UPDATE ri_nothing SET v = 'b' WHERE id = 1") }

        let events = try collector.collect(count: 13)
        #expect(try bridge.stopAndWait() == nil)
        try #require(events.count == 13)
        func of(_ table: String) -> [ReceivedEvent] {
            events.filter { $0.source?["table"] as? String == table }
                .sorted { LSN($0.source?["lsn"] as? String ?? "")! < LSN($1.source?["lsn"] as? String ?? "")! }
        }

        let plain = of("ri_default")
        try #require(plain.count == 4)
        #expect(plain[1].data?.count == 3 && plain[1].data?["v"] as? String == "b")
        #expect(plain[1].envelope["previous"] == nil && plain[1].envelope["changedFields"] == nil)
        // The key did not change in the second update: no old key either.
        #expect(plain[2].envelope["previous"] == nil)
        #expect(plain[3].data?.keys.sorted() == ["id"])

        let full = of("ri_full")
        try #require(full.count == 4)
        #expect(full[1].envelope["changedFields"] as? [String] == ["v"])
        #expect((full[1].envelope["previous"] as? [String: Any])?["v"] as? String == "a")
        #expect(full[2].envelope["changedFields"] as? [String] == ["code"])
        #expect(full[3].data?.count == 3 && full[3].data?["v"] as? String == "b")

        let index = of("ri_index")
        try #require(index.count == 4)
        #expect(index[1].envelope["changedFields"] == nil)
        // Changing the identity column sends the old identity (`K`): previous has it.
        #expect((index[2].envelope["previous"] as? [String: Any]).map { $0.keys.sorted() } == ["code"])
        #expect((index[2].envelope["previous"] as? [String: Any])?["code"] as? String == "c1")
        #expect(index[2].key == "c2")
        #expect(index[3].data?.keys.sorted() == ["code"])
        #expect(index[3].key == "c2")

        #expect(of("ri_nothing").map(\.eventType) == ["Created"])
    }
}
