import Foundation
import PostgresReplication
import Testing

/// Issue 4, bad input: each mistake gives one clear line, exit status 2 for
/// configuration and 1 for runtime, and never the password.
@Suite("CLI: bad input gives a clear error and the right exit status", .serialized)
struct ConfigurationErrorCLITests {
    static let password = TestDatabase.password

    /// Runs `walbridge validate` (and, for database problems, `walbridge run`) and checks status and message.
    func expectFailure(_ setup: BridgeTestSetup, yaml: String, status: Int32, message: String, alsoRun: Bool = true) throws {
        let path = try setup.writeConfiguration(yaml)
        var commands = [["validate", "--config", path]]
        if alsoRun { commands.append(["run", "--config", path]) }
        for command in commands {
            let result = try WalBridgeProcess.run(command)
            #expect(result.status == status, "\(command[0]): status \(result.status), stderr: \(result.stderr)")
            #expect(result.stderr.contains(message), "\(command[0]) stderr: \(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains(Self.password), "the password must never be printed")
        }
    }

    @Test("malformed YAML names the file and the line")
    func malformedYAML() throws {
        let setup = try BridgeTestSetup()
        try expectFailure(setup, yaml: setup.yaml() + "\n  - : : [\n", status: 2, message: "walbridge.yaml:")
    }

    @Test("an unknown key names the closest valid key")
    func unknownKey() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "bootstrap_servers:", with: "bootstrap_server:")
        try expectFailure(setup, yaml: yaml, status: 2, message: "did you mean 'bootstrap_servers'?")
    }

    @Test("a mapping to a missing table")
    func missingTable() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "table: public.users", with: "table: public.userz")
        try expectFailure(setup, yaml: yaml, status: 2, message: "table public.userz does not exist")
    }

    @Test("a mapping to a missing column suggests the closest one")
    func missingColumn() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "first_name: firstName", with: "firstname: firstName")
        try expectFailure(setup, yaml: yaml, status: 2, message: "has no column 'firstname'; did you mean 'first_name'?")
    }

    @Test("a table without a primary key and no key:")
    func noPrimaryKey() throws {
        let setup = try BridgeTestSetup()
        try setup.database.sql("CREATE TABLE events_log (id bigint, note text); GRANT SELECT ON events_log TO walbridge")
        try setup.database.sql("ALTER PUBLICATION walbridge ADD TABLE events_log")
        let yaml = setup.yaml() + """

              - table: public.events_log
                topic: log.events
                events: {insert: LogWritten}
                fields: {id: id, note: note}
            """
        try expectFailure(setup, yaml: yaml, status: 2, message: "has no primary key")
    }

    @Test("a wrong password: exit 2, and the password is never echoed")
    func wrongPassword() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: Self.password, with: "not-the-password-\(Self.password)")
        try expectFailure(setup, yaml: yaml, status: 2, message: "password authentication failed")
    }

    @Test("an unreachable host: validate exits 1")
    func unreachableHost() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "@127.0.0.1:\(TestDatabase.port)", with: "@127.0.0.1:1")
        try expectFailure(setup, yaml: yaml, status: 1, message: "Connection refused", alsoRun: false)
        let status = try WalBridgeProcess.run(["status", "--config", try setup.writeConfiguration(yaml)])
        #expect(status.status == 1, "\(status.stderr)")
    }

    @Test("a role without REPLICATION")
    func noReplicationRight() throws {
        let setup = try BridgeTestSetup()
        let role = "norepl_\(setup.database.name)"
        try setup.database.sql("CREATE ROLE \(role) LOGIN PASSWORD '\(Self.password)'; GRANT SELECT ON users TO \(role)")
        defer { _ = try? setup.database.sql("DROP OWNED BY \(role); DROP ROLE \(role)") }
        let yaml = setup.yaml().replacingOccurrences(of: "//walbridge:", with: "//\(role):")
        // Postgres 15 says "must be superuser or replication role", 16 and later "permission
        // denied to start WAL sender": both 42501, and the advice comes from the SQLSTATE.
        try expectFailure(setup, yaml: yaml, status: 2, message: "run ALTER ROLE \(role) REPLICATION as a superuser")
    }

    @Test("a database that does not exist: exit 2 from validate, run and status")
    func missingDatabase() throws {
        let setup = try BridgeTestSetup()
        let missing = "nosuch_\(setup.database.name)"
        let yaml = setup.yaml().replacingOccurrences(
            of: "\(TestDatabase.port)/\(setup.database.name)", with: "\(TestDatabase.port)/\(missing)")
        try expectFailure(setup, yaml: yaml, status: 2, message: "database '\(missing)' does not exist on this server")
        let status = try WalBridgeProcess.run(["status", "--config", try setup.writeConfiguration(yaml)])
        #expect(status.status == 2, "\(status.stderr)")
        #expect(status.stderr.contains("database \"\(missing)\" does not exist"), "\(status.stderr)")
    }

    @Test("connection settings libpq refuses (sslmode=sometimes): exit 2, run does not retry")
    func rejectedConnectionSettings() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "/\(setup.database.name)\n", with: "/\(setup.database.name)?sslmode=sometimes\n")
        try expectFailure(setup, yaml: yaml, status: 2, message: "libpq refused the connection settings before connecting")
    }

    @Test("a wrong password: status exits 2 too")
    func wrongPasswordStatus() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: Self.password, with: "not-the-password-\(Self.password)")
        let result = try WalBridgeProcess.run(["status", "--config", try setup.writeConfiguration(yaml)])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("password authentication failed for user \"walbridge\"; check the role and password"), "\(result.stderr)")
        #expect(!result.stderr.contains(Self.password))
        #expect(!result.stderr.contains("LOCATION"), "\(result.stderr)")
    }

    @Test("validate names the server's version and what it offers")
    func validateShowsVersion() throws {
        let setup = try BridgeTestSetup()
        let number = try #require(try setup.database.sql("SHOW server_version_num").rows.first?.first.flatMap { $0 })
        let version = try #require(ServerVersion(serverVersionNum: number))
        let result = try WalBridgeProcess.run(["validate", "--config", try setup.writeConfiguration()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok (Postgres \(version), system"), "\(result.stdout)")
        #expect(result.stdout.contains("ok: Postgres \(version) (15 or later): " + version.capabilities.joined(separator: ", ")), "\(result.stdout)")
    }

    @Test("wal_level is not logical: exit 2, saying how to fix it")
    func walLevelReplica() throws {
        let setup = try BridgeTestSetup()
        let cluster = try TemporaryCluster(settings: ["wal_level = replica"])
        try cluster.sql("CREATE ROLE walbridge LOGIN REPLICATION PASSWORD '\(Self.password)'")
        let yaml = setup.yaml().replacingOccurrences(
            of: "@127.0.0.1:\(TestDatabase.port)/\(setup.database.name)", with: "@127.0.0.1:\(cluster.port)/postgres")
        try expectFailure(setup, yaml: yaml, status: 2, message: "wal_level is 'replica'; set wal_level=logical")
    }

    @Test("a publication that does not cover the mapped table")
    func publicationNotCovering() throws {
        let setup = try BridgeTestSetup(publish: false)
        try setup.database.sql("CREATE TABLE other (id int PRIMARY KEY); CREATE PUBLICATION walbridge FOR TABLE other")
        try expectFailure(setup, yaml: setup.yaml(), status: 2, message: "publication 'walbridge' does not publish public.users")
    }

    @Test("a corrupt checkpoint file is refused, never read as 'start from scratch'")
    func corruptCheckpoint() throws {
        let setup = try BridgeTestSetup()
        let path = try setup.writeConfiguration()
        try #"{"version": 1, "systemId": "1", "sl"#.write(toFile: setup.checkpointPath, atomically: false, encoding: .utf8)
        let result = try WalBridgeProcess.run(["run", "--config", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("not a valid WalBridge checkpoint"), "\(result.stderr)")
    }

    @Test("a checkpoint of another slot is refused")
    func foreignCheckpoint() throws {
        let setup = try BridgeTestSetup()
        let path = try setup.writeConfiguration()
        let identity = try PostgresConnection(url: setup.database.bridgeURL, replication: true).identifySystem()
        try #"{"version": 1, "systemId": "\#(identity.systemID)", "slot": "another_slot", "lsn": "0/1", "updatedAt": "2026-01-01T00:00:00Z"}"#
            .write(toFile: setup.checkpointPath, atomically: false, encoding: .utf8)
        let result = try WalBridgeProcess.run(["run", "--config", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("belongs to slot 'another_slot'"), "\(result.stderr)")
    }

    @Test("--from-lsn that is not an LSN is a usage error")
    func badFromLSN() throws {
        let setup = try BridgeTestSetup()
        let result = try WalBridgeProcess.run(["run", "--config", try setup.writeConfiguration(), "--from-lsn", "yesterday"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("The value 'yesterday' is invalid for '--from-lsn <from-lsn>'"), "\(result.stderr)")
        #expect(result.stderr.contains("is not an LSN"))
    }

    @Test("every usage error exits 2 with the parser's own message; --help exits 0",
          arguments: [
            (["run"], "Missing expected argument '--config <config>'"),
            (["validate"], "Missing expected argument '--config <config>'"),
            (["frobnicate"], "Unexpected argument 'frobnicate'"),
            (["run", "--config", "walbridge.yaml", "--bogus"], "Unknown option '--bogus'"),
            (["status", "--config"], "Missing value for '--config <config>'"),
            (["run", "--config", "walbridge.yaml", "--from-lsn", "nonsense"], "The value 'nonsense' is invalid for '--from-lsn <from-lsn>'"),
          ])
    func usageErrors(arguments: [String], message: String) throws {
        let result = try WalBridgeProcess.run(arguments)
        #expect(result.status == 2, "\(arguments): status \(result.status), stderr: \(result.stderr)")
        #expect(result.stderr.contains("Error: " + message), "\(arguments) stderr: \(result.stderr)")
        #expect(result.stderr.contains("Usage: walbridge"), "the parser's usage line: \(result.stderr)")
    }

    @Test("--help and --version exit 0")
    func helpExitsZero() throws {
        for arguments in [["--help"], ["run", "--help"], ["help", "status"], ["--version"]] {
            let result = try WalBridgeProcess.run(arguments)
            #expect(result.status == 0, "\(arguments): status \(result.status), stderr: \(result.stderr)")
            #expect(!result.stdout.isEmpty)
        }
    }
}
