import Foundation
import PostgresReplication

/// The test cluster's server: which major version it is, where its binaries
/// are, and what its build can do. `scripts/test.sh` runs the suite once per
/// supported version against that version's cluster; the scripts export
/// `WALBRIDGE_PG_BIN` (initdb, pg_ctl, psql of the same build) and
/// `WALBRIDGE_PG_VERSION`. Capabilities are asked from the server itself, once.
enum TestServer {
    /// The directory with the server's initdb, pg_ctl and psql.
    static let binaries = TestDatabase.environment["WALBRIDGE_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"

    /// The major version the running server reports (`server_version_num` / 10000).
    static let majorVersion: Int = {
        guard let text = setting("SHOW server_version_num"), let number = Int(text) else {
            // Unreachable server: the tests fail on their own with what to do; assume the default.
            return Int(TestDatabase.environment["WALBRIDGE_PG_VERSION"] ?? "15") ?? 15
        }
        return number / 10_000
    }()

    /// False only when the server says its build has no OpenSSL (`ssl_library` is empty).
    static let hasTLS: Bool = setting("SHOW ssl_library").map { !$0.isEmpty } ?? true

    /// False only when the server refuses `xml` input because it was built without libxml.
    static let hasXML: Bool = {
        guard let server = try? PostgresConnection(url: TestDatabase.adminConninfo(database: "postgres"), replication: false) else { return true }
        do {
            _ = try server.query("SELECT '<a/>'::xml")
            return true
        } catch {
            // "unsupported XML feature" (detail: "…requires the server to be built with libxml support").
            let text = "\(error)"
            return !(text.contains("unsupported XML feature") || text.contains("libxml"))
        }
    }()

    private static func setting(_ query: String) -> String? {
        guard let server = try? PostgresConnection(url: TestDatabase.adminConninfo(database: "postgres"), replication: false),
              let result = try? server.query(query) else { return nil }
        return result.rows.first?.first ?? nil
    }
}
