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

/// One error shape: a stable code, the underlying error kept with its type, one classification.
@Suite("BridgeError codes and classification")
struct BridgeErrorCodeTests {
    @Test("a Postgres error keeps its code and the error underneath")
    func postgresUnderlying() throws {
        let refused = PostgresError(kind: .authentication, sqlState: "28P01", message: "password authentication failed")
        let error = BridgeError(refused, context: "cannot connect to Postgres")
        #expect(error.code == .postgresRefused)
        guard case .postgres(let underlying) = error.underlying else {
            Issue.record("no Postgres error underneath: \(String(describing: error.underlying))")
            return
        }
        #expect(underlying.sqlState == "28P01")
        #expect(BridgeError(PostgresError(kind: .unreachable, message: "m"), context: "c").code == .postgresUnreachable)
        #expect(BridgeError(PostgresError(kind: .query, sqlState: "XX000", message: "m"), context: "c").code == .postgresQueryFailed)
    }

    @Test("where the caller never reconnects, a transient cause is fatal; the other kinds stay")
    func notRetryable() {
        let unreachable = PostgresError(kind: .unreachable, message: "connection refused")
        #expect(BridgeError(unreachable, context: "c").kind == .transient)
        #expect(BridgeError(unreachable, context: "c", retryable: false).kind == .fatal)
        let refused = PostgresError(kind: .configuration, sqlState: "42501", message: "m")
        #expect(BridgeError(refused, context: "c", retryable: false).kind == .configuration)
    }

    @Test("an error raised with a kind and a message gets that kind's generic code and no cause")
    func generic() {
        #expect(BridgeError(.configuration, "m").code == .configurationInvalid)
        #expect(BridgeError(.transient, "m").code == .transientFailure)
        #expect(BridgeError(.fatal, "m").code == .runtimeFailure)
        #expect(BridgeError(.fatal, "m").underlying == nil && BridgeError(.fatal, "m").message == "m")
        #expect(BridgeError.corruptStream("m").isCorruptStream && BridgeError.corruptStream("m").kind == .transient)
        #expect(!BridgeError(.transient, "m").isCorruptStream)
    }

    @Test("a checkpoint file: unreadable is fatal, corrupt or foreign is configuration")
    func checkpoint() {
        let unreadable = BridgeError(CheckpointError(path: "/x", reason: "cannot read the file", isIOFailure: true))
        #expect(unreadable.kind == .fatal && unreadable.code == .checkpointUnusable)
        let corrupt = BridgeError(CheckpointError(path: "/x", reason: "not JSON", isIOFailure: false))
        #expect(corrupt.kind == .configuration && corrupt.exitCode == 2)
        #expect(corrupt.message == "\(CheckpointError(path: "/x", reason: "not JSON", isIOFailure: false))")
    }

    @Test("codes print as stable names")
    func names() {
        #expect("\(BridgeError.Code.slotGap)" == "slotGap")
        #expect("\(BridgeError.Code.corruptStream)" == "corruptStream")
    }
}
