import PostgresReplication
import Testing
@testable import WalBridge

/// Postgres errors become exit statuses by their kind, which comes from the SQLSTATE.
@Suite("BridgeError from PostgresError")
struct BridgeErrorTests {
    @Test("a server older than 15 is refused with exit status 2 (no Postgres 14 here: checked at the classification)")
    func oldServerExitsTwo() throws {
        let refusal = try #require(ServerVersion(number: 140011).unsupportedError)
        let error = BridgeError(refusal, context: "")
        #expect(error.kind == .configuration && error.exitCode == 2)
        #expect(error.message == "Postgres 14.11 is not supported: WalBridge needs Postgres 15 or later (row filters and column lists in publications); upgrade the server")
    }

    @Test("exit status and retry by SQLSTATE",
          arguments: [("42501", BridgeError.Kind.configuration), ("28P01", .configuration), ("3D000", .configuration),
                      ("53300", .transient), ("57P01", .transient), ("08006", .transient), ("XX000", .fatal)])
    func bySQLState(state: String, kind: BridgeError.Kind) {
        let error = BridgeError(PostgresError(kind: PostgresError.kind(forSQLState: state), sqlState: state, message: "m"), context: "c")
        #expect(error.kind == kind)
        #expect(error.exitCode == (kind == .configuration ? 2 : 1))
        #expect(error.message == "c: m")
    }
}
