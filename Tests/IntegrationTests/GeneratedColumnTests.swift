import Foundation
import Testing

/// Issue 13, item 5: stored generated columns per Postgres version. Postgres 18
/// publishes them when the publication says `publish_generated_columns = stored`
/// (or names them in its column list), and WalBridge encodes them like any
/// column; Postgres 15–17 never send them, so a mapping that names one is
/// refused before streaming (a configuration error, exit 2) instead of
/// producing events without the field. Runs against whichever server the
/// scripts point the tests at (`scripts/test.sh` runs every supported version).
@Suite("Generated columns, per Postgres version", .serialized)
struct GeneratedColumnTests {
    static let tableSQL = """
        CREATE TABLE orders (
            id int PRIMARY KEY,
            quantity int NOT NULL,
            unit_price int NOT NULL,
            total int GENERATED ALWAYS AS (quantity * unit_price) STORED,
            label text GENERATED ALWAYS AS ('order-' || id) STORED
        )
        """

    static func mappings(_ columns: [String]) -> String {
        """
          - table: public.orders
            topic: orders.events
            key: [id]
            events: {insert: OrderPlaced, update: OrderChanged, delete: OrderCancelled}
            fields:
        \(columns.map { "      \($0): \($0)" }.joined(separator: "\n"))
        """
    }

    static let allColumns = ["id", "quantity", "unit_price", "total", "label"]

    func setUp(publication: String) throws -> BridgeTestSetup {
        let setup = try BridgeTestSetup(publish: false)
        try setup.database.sql(Self.tableSQL)
        try setup.grant("orders")
        try setup.database.sql(publication)
        return setup
    }

    /// `walbridge validate` on these mappings: its exit status and standard error.
    func validate(_ setup: BridgeTestSetup, columns: [String]) throws -> (status: Int32, stderr: String) {
        let path = try setup.writeConfiguration(setup.yaml(mappings: Self.mappings(columns)), name: "generated.yaml")
        let result = try WalBridgeProcess.run(["validate", "--config", path])
        return (result.status, result.stderr)
    }

    @Test("Postgres 18: publish_generated_columns = stored publishes them, encoded like any column; without it they are refused",
          .enabled(if: TestServer.majorVersion >= 18, "Postgres \(TestServer.majorVersion) cannot publish generated columns (18 and later can)"))
    func publishedOn18() throws {
        let setup = try setUp(publication: "CREATE PUBLICATION walbridge FOR TABLE orders")
        // The publication's default (publish_generated_columns = none) leaves them out.
        let refused = try validate(setup, columns: Self.allColumns)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("total") && refused.stderr.contains("label"), "\(refused.stderr)")

        try setup.database.sql("ALTER PUBLICATION walbridge SET (publish_generated_columns = stored)")
        let accepted = try validate(setup, columns: Self.allColumns)
        #expect(accepted.status == 0, "\(accepted.stderr)")

        let bridge = try setup.startBridge(mappings: Self.mappings(Self.allColumns), topics: ["orders.events"])
        let collector = try setup.collector(topic: "orders.events")
        try setup.database.sql("INSERT INTO orders (id, quantity, unit_price) VALUES (1, 3, 14)")
        try setup.database.sql("UPDATE orders SET quantity = 5 WHERE id = 1")
        try setup.database.sql("DELETE FROM orders WHERE id = 1")
        let events = try collector.collect(count: 3)
        #expect(try bridge.stopAndWait() == nil)
        try #require(events.count == 3)
        #expect(events.map(\.eventType) == ["OrderPlaced", "OrderChanged", "OrderCancelled"])
        #expect(events[0].data?["total"] as? Int == 42)
        #expect(events[0].data?["label"] as? String == "order-1")
        #expect(events[1].data?["total"] as? Int == 70, "the update carries the recomputed value")
        #expect(events[1].data?["quantity"] as? Int == 5)
        #expect(events[2].data?["id"] as? Int == 1)
    }

    @Test("Postgres 15–17: a mapped generated column is refused before streaming; the other columns stream without it",
          .enabled(if: TestServer.majorVersion < 18, "Postgres \(TestServer.majorVersion) publishes generated columns when asked"))
    func refusedBefore18() throws {
        let setup = try setUp(publication: "CREATE PUBLICATION walbridge FOR TABLE orders")
        let refused = try validate(setup, columns: Self.allColumns)
        #expect(refused.status == 2, "pgoutput before 18 never sends a generated column: \(refused.stderr)")
        #expect(refused.stderr.contains("total") && refused.stderr.contains("label"), "\(refused.stderr)")

        let stored = ["id", "quantity", "unit_price"]
        let bridge = try setup.startBridge(mappings: Self.mappings(stored), topics: ["orders.events"])
        let collector = try setup.collector(topic: "orders.events")
        try setup.database.sql("INSERT INTO orders (id, quantity, unit_price) VALUES (1, 3, 14)")
        let events = try collector.collect(count: 1)
        #expect(try bridge.stopAndWait() == nil)
        let data = try #require(events.first?.data)
        #expect(data["quantity"] as? Int == 3 && data["unit_price"] as? Int == 14)
        #expect(data["total"] == nil && data["label"] == nil)
    }
}
