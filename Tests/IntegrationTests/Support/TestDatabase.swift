import Foundation
import PostgresReplication

/// A fresh database in the throwaway cluster that `scripts/start-postgres.sh`
/// runs, with the auth service's schema, WalBridge's grants and publication.
/// Each test gets its own, so tests never see each other's slots or rows.
final class TestDatabase {
    static let environment = ProcessInfo.processInfo.environment
    static let port = environment["WALBRIDGE_PG_PORT"] ?? "54329"
    static let socketDirectory = environment["WALBRIDGE_PG_DIR"] ?? "/tmp/walbridge-pg"
    static let password = environment["WALBRIDGE_PASSWORD"] ?? "walbridge-dev-password"
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let name: String
    /// A superuser session in the test database (over the Unix socket).
    let admin: PostgresConnection
    let slot: String

    /// - Parameter publish: create the publication `walbridge` for `users` as `sql/walbridge-setup.sql` does.
    init(publish: Bool = true) throws {
        name = "wbt_" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        slot = "slot_" + name
        let server: PostgresConnection
        do {
            server = try PostgresConnection(url: Self.adminConninfo(database: "postgres"), replication: false)
        } catch {
            throw TestFailure("""
                cannot reach the test Postgres cluster (\(error)); start it with `bash scripts/start-postgres.sh` \
                or run the whole suite with `bash scripts/test.sh`
                """)
        }
        try server.query("CREATE DATABASE \(name)")
        admin = try PostgresConnection(url: Self.adminConninfo(database: name), replication: false)
        try admin.query(String(contentsOf: Self.repositoryRoot.appendingPathComponent("sql/auth-schema.sql"), encoding: .utf8))
        try admin.query("""
            GRANT CONNECT ON DATABASE \(name) TO walbridge;
            GRANT USAGE ON SCHEMA public TO walbridge;
            GRANT SELECT ON public.users TO walbridge;
            """)
        if publish {
            try admin.query("CREATE PUBLICATION walbridge FOR TABLE public.users (id, username, first_name, last_name, email)")
        }
    }

    static func adminConninfo(database: String) -> String {
        "host=\(socketDirectory) port=\(port) user=postgres dbname=\(database)"
    }

    /// The URL WalBridge uses: the least-privilege role over TCP with its password.
    var bridgeURL: String { "postgres://walbridge:\(Self.password)@127.0.0.1:\(Self.port)/\(name)" }

    /// Runs SQL as the superuser in the test database.
    @discardableResult
    func sql(_ text: String) throws -> QueryResult { try admin.query(text) }

    /// The WAL insert position now: every change committed so far lies below it.
    func currentInsertLSN() throws -> LSN {
        LSN(try sql("SELECT pg_current_wal_insert_lsn()").rows[0][0]!)!
    }

    /// The slot's confirmed flush position, or nil when the slot does not exist.
    func confirmedFlush(slot: String? = nil) throws -> LSN? {
        try admin.slot(named: slot ?? self.slot)?.confirmedFlushLSN
    }

    /// Waits until the slot is being streamed by some connection.
    func waitForActiveSlot(timeout: Duration = .seconds(30)) throws {
        try waitUntil("slot \(slot) active", timeout: timeout) { try self.admin.slot(named: self.slot)?.isActive == true }
    }

    /// Waits until the slot's confirmed flush position reaches `lsn`.
    func waitForConfirmedFlush(atLeast lsn: LSN, timeout: Duration = .seconds(30)) throws {
        try waitUntil("slot \(slot) confirmed flush ≥ \(lsn)", timeout: timeout) { (try self.confirmedFlush() ?? .zero) >= lsn }
    }

    deinit {
        guard let server = try? PostgresConnection(url: Self.adminConninfo(database: "postgres"), replication: false) else { return }
        _ = try? server.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '\(name)' AND active_pid IS NOT NULL")
        for _ in 0..<50 {
            if (try? server.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '\(name)'")) != nil { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        _ = try? server.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// A failure of the test set-up itself, with a message saying what to do.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(_ what: String, timeout: Duration, interval: Duration = .milliseconds(50), _ condition: () throws -> Bool) throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
    }
    throw TestFailure("timed out after \(timeout) waiting for \(what)")
}
