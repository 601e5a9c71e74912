import Foundation
import PostgresReplication
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What `PostgresConnection` makes of a refused connection on the real server:
/// the SQLSTATE read from libpq's verbose message, and the kind that follows.
@Suite("PostgresConnection: refused connections carry the server's SQLSTATE", .serialized)
struct ConnectionErrorTests {
    static let password = TestDatabase.password

    func connectError(_ url: String, replication: Bool = true, timeout: Int = 10) -> PostgresError? {
        do {
            _ = try PostgresConnection(url: url, replication: replication, connectTimeoutSeconds: timeout)
            return nil
        } catch {
            return error
        }
    }

    @Test("wrong password 28P01, missing database 3D000, no REPLICATION 42501, no CONNECT 42501")
    func sqlStates() throws {
        let database = try TestDatabase()
        let base = "127.0.0.1:\(TestDatabase.port)"

        let password = try #require(connectError("postgres://walbridge:wrong-\(Self.password)@\(base)/\(database.name)"))
        #expect(password.sqlState == "28P01" && password.kind == .authentication, "\(password)")

        let missing = try #require(connectError("postgres://walbridge:\(Self.password)@\(base)/nosuch_\(database.name)"))
        #expect(missing.sqlState == "3D000" && missing.kind == .configuration, "\(missing)")
        #expect(missing.message.contains("database 'nosuch_\(database.name)' does not exist on this server"))

        let role = "nr_\(database.name)"
        try database.sql("CREATE ROLE \(role) LOGIN PASSWORD '\(Self.password)'")
        defer { _ = try? database.sql("DROP ROLE \(role)") }
        let noReplication = try #require(connectError("postgres://\(role):\(Self.password)@\(base)/\(database.name)"))
        #expect(noReplication.sqlState == "42501" && noReplication.kind == .configuration, "\(noReplication)")
        #expect(noReplication.message.contains("run ALTER ROLE \(role) REPLICATION as a superuser"), "\(noReplication)")
        #expect(!noReplication.message.contains("LOCATION"), "\(noReplication)")

        // The same role may open an ordinary session, until CONNECT is taken away.
        _ = try PostgresConnection(url: "postgres://\(role):\(Self.password)@\(base)/\(database.name)", replication: false)
        try database.sql("REVOKE CONNECT ON DATABASE \(database.name) FROM PUBLIC")
        let noConnect = try #require(connectError("postgres://\(role):\(Self.password)@\(base)/\(database.name)", replication: false))
        #expect(noConnect.sqlState == "42501" && noConnect.kind == .configuration, "\(noConnect)")
        #expect(noConnect.message.contains("GRANT CONNECT ON DATABASE \(database.name) TO \(role)"), "\(noConnect)")
    }

    /// A loopback TCP listener that never accepts: the kernel completes the
    /// handshake, and then nothing answers. Returns the socket and its port.
    func silentListener() throws -> (Int32, UInt16) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        try #require(bound && listen(listener, 4) == 0)
        return (listener, UInt16(bigEndian: address.sin_port))
    }

    @Test("a server that accepts the TCP connection and never answers: unreachable after connect_timeout")
    func silentServer() throws {
        let (listener, port) = try silentListener()
        defer { close(listener) }
        let started = ContinuousClock.now
        let error = try #require(connectError("postgres://walbridge:x@127.0.0.1:\(port)/postgres", timeout: 2))
        let elapsed = ContinuousClock.now - started
        #expect(error.kind == .unreachable && error.isTransient, "\(error)")
        #expect(error.message.contains("timeout expired after 2 s"), "\(error)")
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(6), "\(elapsed)")
    }

    @Test("a multi-host URL: a silent or refusing first host is left after its own timeout, a refusal by the server is not")
    func multipleHosts() throws {
        let database = try TestDatabase()
        let (listener, silent) = try silentListener()
        defer { close(listener) }
        let hosts = "host=127.0.0.1,127.0.0.1,127.0.0.1 port=\(silent),1,\(TestDatabase.port) dbname=\(database.name) user=walbridge"
        let started = ContinuousClock.now
        let connection = try PostgresConnection(url: hosts + " password=\(Self.password)", replication: true, connectTimeoutSeconds: 2)
        #expect(ContinuousClock.now - started >= .seconds(2))
        #expect(connection.isOK && connection.safeDescription.hasSuffix(":\(TestDatabase.port)/\(database.name)"), "\(connection.safeDescription)")

        // A wrong password on the first host that answers ends the attempt, as in libpq.
        let reversed = "host=127.0.0.1,127.0.0.1 port=\(TestDatabase.port),\(silent) dbname=\(database.name) user=walbridge password=wrong"
        let refused = try #require(connectError(reversed, timeout: 2))
        #expect(refused.sqlState == "28P01" && refused.kind == .authentication, "\(refused)")
        #expect(!refused.message.contains("port \(silent)"), "\(refused)")

        let allDown = try #require(connectError("host=127.0.0.1,127.0.0.1 port=\(silent),1 dbname=x user=walbridge", timeout: 2))
        #expect(allDown.kind == .unreachable, "\(allDown)")
        #expect(allDown.message.contains("timeout expired after 2 s") && allDown.message.contains("port 1 failed: Connection refused"), "\(allDown)")
    }

    @Test("the connection knows the server's version")
    func version() throws {
        let database = try TestDatabase()
        let number = try #require(try database.sql("SHOW server_version_num").rows.first?.first.flatMap { $0 })
        let connection = try PostgresConnection(url: database.bridgeURL, replication: true)
        #expect(connection.version.number == Int(number))
        #expect(connection.serverVersion == Int(number))
        #expect(connection.version.isSupported)
    }
}
