import Testing
@testable import PostgresReplication

/// Server errors are classified by SQLSTATE alone, so a message that changes
/// between Postgres versions (or languages) cannot change the exit status.
@Suite("PostgresError: classification by SQLSTATE")
struct PostgresErrorClassificationTests {
    static let replicationTarget = PostgresError.ConnectTarget(role: "walbridge", database: "auth", replication: true)

    @Test("each SQLSTATE maps to one kind",
          arguments: [
            ("42501", PostgresError.Kind.configuration), ("3D000", .configuration), ("42704", .configuration),
            ("42P01", .configuration), ("42703", .configuration), ("55000", .configuration), ("22023", .configuration),
            ("28P01", .authentication), ("28000", .authentication),
            ("53300", .unreachable), ("57P01", .unreachable), ("57P02", .unreachable), ("57P03", .unreachable),
            ("08006", .unreachable), ("08P01", .unreachable),
            ("40001", .query), ("22P02", .query), ("XX000", .query),
          ])
    func kindForSQLState(state: String, kind: PostgresError.Kind) {
        #expect(PostgresError.kind(forSQLState: state) == kind)
        let error = PostgresError.fromServer(sqlState: state, message: "whatever the server said")
        #expect(error.kind == kind)
        #expect(error.isConfigurationError == (kind == .configuration || kind == .authentication))
        #expect(error.isTransient == (kind == .unreachable || state == "40001"))
    }

    @Test("a role without REPLICATION is a configuration error on 15 and on 16, 17, 18, whose wording differs")
    func noReplicationOnEveryVersion() {
        let postgres15 = """
            connection to server at "127.0.0.1", port 54329 failed: FATAL:  42501: must be superuser or replication role to start walsender
            LOCATION:  InitPostgres, postinit.c:934

            """
        let postgres16 = """
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  42501: permission denied to start WAL sender
            DETAIL:  Only roles with the REPLICATION attribute may start a WAL sender process.
            LOCATION:  InitPostgres, postinit.c:967

            """
        for text in [postgres15, postgres16] {
            let error = PostgresError.connectFailure(verboseMessage: text, stage: .afterHandshake, target: Self.replicationTarget)
            #expect(error.kind == .configuration)
            #expect(error.sqlState == "42501")
            #expect(error.isConfigurationError)
            #expect(error.message.contains("ALTER ROLE walbridge REPLICATION"), "\(error.message)")
            #expect(!error.message.contains("LOCATION"), "the server's source position is not for users: \(error.message)")
            #expect(!error.message.contains("42501:"), "\(error.message)")
        }
        let sixteen = PostgresError.connectFailure(verboseMessage: postgres16, stage: .afterHandshake, target: Self.replicationTarget)
        #expect(sixteen.message.hasPrefix(
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  permission denied to start WAL sender; DETAIL:  Only roles with the REPLICATION attribute"),
            "\(sixteen.message)")
    }

    @Test("the SQLSTATE decides, not the words: a translated message, and words that would mislead a text match")
    func sqlStateNotText() {
        let german = "connection to server at \"db\", port 5432 failed: FATAL:  28P01: Passwort-Authentifizierung für Benutzer »walbridge« fehlgeschlagen\n"
        #expect(PostgresError.connectFailure(verboseMessage: german, stage: .afterHandshake, target: Self.replicationTarget).kind == .authentication)
        let shutdown = "connection to server at \"db\", port 5432 failed: FATAL:  57P03: the database system is starting up (role \"x\" password)\n"
        let starting = PostgresError.connectFailure(verboseMessage: shutdown, stage: .afterHandshake, target: Self.replicationTarget)
        #expect(starting.kind == .unreachable && starting.isTransient)
        let tooMany = "connection to server at \"db\", port 5432 failed: FATAL:  53300: sorry, too many clients already\n"
        let full = PostgresError.connectFailure(verboseMessage: tooMany, stage: .afterHandshake, target: Self.replicationTarget)
        #expect(full.kind == .unreachable && full.isTransient && !full.isConfigurationError)
    }

    @Test("startup errors: wrong password, unknown role, missing database; the last attempt's SQLSTATE stands")
    func startupErrors() {
        let password = PostgresError.connectFailure(
            verboseMessage: "connection to server at \"127.0.0.1\", port 54329 failed: FATAL:  28P01: password authentication failed for user \"walbridge\"\nLOCATION:  auth_failed, auth.c:326\n",
            stage: .afterHandshake, target: Self.replicationTarget)
        #expect(password.kind == .authentication && password.sqlState == "28P01")
        #expect(password.message == "connection to server at \"127.0.0.1\", port 54329 failed: FATAL:  password authentication failed for user \"walbridge\"; check the role and password in postgres.url")

        let database = PostgresError.connectFailure(
            verboseMessage: "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  3D000: database \"auth\" does not exist\nLOCATION:  InitPostgres, postinit.c:885\n",
            stage: .afterHandshake, target: Self.replicationTarget)
        #expect(database.kind == .configuration && database.sqlState == "3D000")
        #expect(database.message.contains("database 'auth' does not exist on this server: fix the database in postgres.url"))

        // sslmode=prefer: libpq tries TLS, then without; both attempts are in the message.
        let twoAttempts = """
            connection to server at "db", port 5432 failed: FATAL:  28P01: password authentication failed for user "walbridge"
            LOCATION:  auth_failed, auth.c:326
            connection to server at "db", port 5432 failed: FATAL:  28000: no pg_hba.conf entry for host "10.0.0.2", user "walbridge", database "auth", no encryption
            LOCATION:  ClientAuthentication, auth.c:542

            """
        let hba = PostgresError.connectFailure(verboseMessage: twoAttempts, stage: .afterHandshake, target: Self.replicationTarget)
        #expect(hba.sqlState == "28000" && hba.kind == .authentication)
        #expect(hba.message.contains("pg_hba.conf lets it connect"))
    }

    @Test("failures libpq raises itself (no SQLSTATE) are classified by how far the attempt got")
    func clientSideFailures() {
        let refused = "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n"
        let network = PostgresError.connectFailure(verboseMessage: refused, stage: .network, target: Self.replicationTarget)
        #expect(network.kind == .unreachable && network.isTransient && network.sqlState == nil)
        #expect(network.message == "connection to server at \"127.0.0.1\", port 1 failed: Connection refused; Is the server running on that host and accepting TCP/IP connections?")

        let certificate = "connection to server at \"127.0.0.1\", port 54329 failed: SSL error: certificate verify failed\n"
        let tls = PostgresError.connectFailure(verboseMessage: certificate, stage: .tlsHandshake, target: Self.replicationTarget)
        #expect(tls.kind == .tls && tls.isConfigurationError)
        #expect(tls.message.contains("sslrootcert names the CA"))

        // The socket closed or reset while TLS was being negotiated (a restart, a proxy cutting the path): retried.
        for broken in [
            "connection to server at \"127.0.0.1\", port 45129 failed: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\n",
            "connection to server at \"127.0.0.1\", port 45129 failed: could not receive data from server: Connection reset by peer\n",
            "connection to server at \"127.0.0.1\", port 45129 failed: SSL SYSCALL error: EOF detected\n",
        ] {
            let failure = PostgresError.connectFailure(verboseMessage: broken, stage: .tlsHandshake, target: Self.replicationTarget)
            #expect(failure.kind == .unreachable && failure.isTransient && !failure.isConfigurationError, "\(broken)")
        }
        let notSupported = "connection to server at \"db\", port 5432 failed: server does not support SSL, but SSL was required\n"
        #expect(PostgresError.connectFailure(verboseMessage: notSupported, stage: .tlsHandshake, target: Self.replicationTarget).kind == .tls)

        let option = "invalid sslmode value: \"sometimes\"\n"
        #expect(PostgresError.connectFailure(verboseMessage: option, stage: .settingsRejected, target: Self.replicationTarget).kind == .configuration)

        let noPassword = "connection to server at \"db\", port 5432 failed: fe_sendauth: no password supplied\n"
        let missing = PostgresError.connectFailure(verboseMessage: noPassword, stage: .passwordMissing, target: Self.replicationTarget)
        #expect(missing.kind == .authentication && missing.message.contains("put it in postgres.url"))

        // The words "password authentication failed" without a SQLSTATE do not make an authentication error.
        let words = "connection to server at \"db\", port 5432 failed: server closed the connection unexpectedly (password authentication failed?)\n"
        #expect(PostgresError.connectFailure(verboseMessage: words, stage: .network, target: Self.replicationTarget).kind == .unreachable)
    }

    @Test("the SQLSTATE token is found only in libpq's verbose position")
    func verboseToken() {
        #expect(VerboseErrorText("ERROR:  42P01: relation \"x\" does not exist").sqlState == "42P01")
        #expect(VerboseErrorText("FATAL:  3D000: database \"x\" does not exist").message == "FATAL:  database \"x\" does not exist")
        #expect(VerboseErrorText("could not translate host name \"nohost\" to address: Name or service not known").sqlState == nil)
        #expect(VerboseErrorText("FATAL:  password authentication failed").sqlState == nil, "terse text has no code")
        #expect(VerboseErrorText("FATAL:  28p01: lower case is no SQLSTATE").sqlState == nil)
        #expect(VerboseErrorText("").message.isEmpty)
    }
}

/// The hosts of a multi-host connection string, tried one at a time.
@Suite("PostgresConnection.hostOverrides")
struct HostOverrideTests {
    func hosts(_ conninfo: String) -> [[String]] {
        PostgresConnection.hostOverrides(conninfo: conninfo).map { $0.map { "\($0.keyword)=\($0.value)" } }
    }

    @Test func splitsLibpqLists() {
        #expect(hosts("host=a,b port=1,2 dbname=d") == [["host=a", "port=1"], ["host=b", "port=2"]])
        #expect(hosts("host=a,b port=5432") == [["host=a", "port=5432"], ["host=b", "port=5432"]])
        #expect(hosts("postgres://u:p@a:1,b:2/d?target_session_attrs=read-write") == [["host=a", "port=1"], ["host=b", "port=2"]])
        #expect(hosts("host=a,b hostaddr=10.0.0.1,10.0.0.2") == [["host=a", "hostaddr=10.0.0.1"], ["host=b", "hostaddr=10.0.0.2"]])
        #expect(hosts("host=a,b") == [["host=a"], ["host=b"]])
    }

    @Test("one host, lists that do not match, or a string libpq cannot parse: left to libpq")
    func leavesTheRestToLibpq() {
        #expect(hosts("host=a port=1").isEmpty)
        #expect(hosts("postgres://u@a/d").isEmpty)
        #expect(hosts("host=a,b port=1,2,3").isEmpty)
        #expect(hosts("host=a,b,c hostaddr=10.0.0.1").isEmpty)
        #expect(hosts("host=a,b bogus=1").isEmpty)
        #expect(hosts("postgres://a,b/d?x=%zz").isEmpty)
    }
}

/// What each major version offers, and the refusal of versions below 15.
@Suite("ServerVersion")
struct ServerVersionTests {
    @Test func numbersAndText() throws {
        let version = ServerVersion(number: 160014)
        #expect(version.major == 16 && version.minor == 14 && version.description == "16.14")
        #expect(ServerVersion(number: 150018).description == "15.18")
        #expect(ServerVersion(number: 180000).description == "18.0")
        #expect(ServerVersion(number: 90624).description == "9.6.24")
        #expect(try #require(ServerVersion(serverVersionNum: "170006")).number == 170006)
        #expect(ServerVersion(serverVersionNum: "16.14") == nil)
        #expect(ServerVersion(serverVersionNum: "0") == nil)
        #expect(ServerVersion(number: 150018) < ServerVersion(number: 160000))
    }

    @Test("capabilities by major version",
          arguments: [(150018, false, false, false), (160014, false, true, false), (170006, true, true, false), (180001, true, true, true)])
    func capabilities(number: Int, failover: Bool, standby: Bool, generated: Bool) {
        let version = ServerVersion(number: number)
        #expect(version.isSupported)
        #expect(version.unsupportedError == nil)
        #expect(version.supportsFailoverSlots == failover)
        #expect(version.supportsStandbyDecoding == standby)
        #expect(version.publishesGeneratedColumns == generated)
        #expect(version.capabilities.count == 3)
        #expect(version.capabilities[0] == (failover ? "failover slots yes" : "failover slots no (Postgres 17+)"))
    }

    @Test("below 15: refused as a configuration error that says what to do")
    func refusesOldVersions() throws {
        for number in [140011, 130015, 90624] {
            let version = ServerVersion(number: number)
            #expect(!version.isSupported)
            let error = try #require(version.unsupportedError)
            #expect(error.kind == .configuration && error.isConfigurationError)
            #expect(error.message == "Postgres \(version) is not supported: WalBridge needs Postgres 15 or later (row filters and column lists in publications); upgrade the server")
        }
    }
}
