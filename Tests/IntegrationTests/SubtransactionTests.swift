import Foundation
import Testing

/// Transactions with rolled-back savepoints, on whichever Postgres version the
/// scripts point the tests at: only committed rows arrive, however the server
/// frames them. (Postgres 18 has been seen to send a Stream Abort to a client
/// that asked for protocol version 1 after an aborted subtransaction; the
/// decoder must take that in its stride.) The big transaction exceeds the
/// database's tiny `logical_decoding_work_mem`, so the walsender spills it.
@Suite("Aborted subtransactions, per Postgres version", .serialized)
struct SubtransactionTests {
    static func insert(_ name: String) -> String {
        "INSERT INTO users (username, email, password_hash) VALUES ('\(name)', '\(name)@example.com', 'h');"
    }

    @Test("rows of rolled-back savepoints never arrive; the rest of each transaction does, also when it spills to disk")
    func rolledBackSavepoints() throws {
        let setup = try BridgeTestSetup()
        let db = setup.database
        // Read by the walsender when it connects to this database.
        try db.sql("ALTER DATABASE \(db.name) SET logical_decoding_work_mem = '64kB'")
        let bridge = try setup.startBridge()
        let collector = try setup.collector()

        try db.sql("BEGIN; \(Self.insert("kept1")) SAVEPOINT s; \(Self.insert("gone1")) ROLLBACK TO SAVEPOINT s; \(Self.insert("kept2")) COMMIT;")
        try db.sql("BEGIN; SAVEPOINT s; \(Self.insert("gone2")) ROLLBACK TO SAVEPOINT s; COMMIT;")
        try db.sql("""
            BEGIN;
            INSERT INTO users (username, email, password_hash) SELECT 'big' || g, 'big' || g || '@example.com', repeat('h', 200) FROM generate_series(1, 2000) g;
            SAVEPOINT s;
            INSERT INTO users (username, email, password_hash) SELECT 'gonebig' || g, 'gonebig' || g || '@example.com', repeat('h', 200) FROM generate_series(1, 2000) g;
            SAVEPOINT inner_s;
            \(Self.insert("gone3"))
            RELEASE SAVEPOINT inner_s;
            ROLLBACK TO SAVEPOINT s;
            \(Self.insert("kept3"))
            COMMIT;
            """)
        // An exception block is a subtransaction too.
        try db.sql("DO $$ BEGIN BEGIN \(Self.insert("gone4")) RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN NULL; END; \(Self.insert("kept4")) END $$")
        try setup.insertUser("sentinel")
        let expected = 2 + 2000 + 1 + 1 + 1

        try collector.collect(count: expected, timeout: .seconds(90))
        try db.waitForConfirmedFlush(atLeast: try db.currentInsertLSN(), timeout: .seconds(60))
        #expect(try bridge.stopAndWait() == nil)
        let events = try collector.collectAll()
        let names = events.compactMap(\.username)
        #expect(events.count == expected, "exactly the committed rows, once each")
        #expect(Set(names).count == names.count, "no row twice")
        #expect(names.filter { $0.hasPrefix("gone") }.isEmpty, "rolled back: \(names.filter { $0.hasPrefix("gone") }.prefix(5))")
        for name in ["kept1", "kept2", "kept3", "kept4", "big1", "big2000", "sentinel"] {
            #expect(names.contains(name), "\(name) arrives")
        }
    }
}
