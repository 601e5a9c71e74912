import Configuration
import EventMapping
import Foundation
import HTTPTestClient
import Testing
import WalBridge

/// Issue 18: update rules (soft delete, restore, email change), `skip_unchanged`
/// for logins, PII field transforms, and the refusal without REPLICA IDENTITY FULL.
@Suite("Update rules, skip_unchanged and field transforms end to end", .serialized)
struct UpdateRulesEndToEndTests {
    /// The `users` variant of an auth service that soft-deletes and records logins.
    static let variantSQL = """
        ALTER TABLE users ADD COLUMN deleted_at timestamptz, ADD COLUMN last_login_at timestamptz, ADD COLUMN phone text;
        """

    /// The publication: no column list, as Postgres 15 requires under REPLICA IDENTITY FULL
    /// (a column list must cover the replica identity, which is then every column).
    static let publicationSQL = "CREATE PUBLICATION walbridge FOR TABLE users;"

    static let piiKey = "test-pii-key-0123456789-abcdefghijklmnop"

    static func mappings(key: String = piiKey, rules: Bool = true) -> String {
        let update = rules ? """
              update:
                - event: UserDeleted
                  when: {set: deleted_at}
                  fields: [userId]
                - event: UserRestored
                  when: {cleared: deleted_at}
                - event: UserEmailChanged
                  when: {changed: [email]}
                - event: UserUpdated
        """ : "      update: UserUpdated"
        return """
          - table: public.users
            topic: auth.users.events
            key: [id]
            events:
              insert: UserRegistered
              delete: UserDeleted
        \(update)
            skip_unchanged: true
            fields:
              id: userId
              username: username
              email: email
              phone: {as: phone, mask: last4}
              first_name: {as: firstNameHash, hash: hmac-sha256, key: "\(key)"}
        """
    }

    static func python(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 is needed for this test")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func pythonHMAC(_ message: String) throws -> String {
        try python("import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
                   [piiKey, message])
    }

    @Test("soft delete, restore and email change are named events; a login publishes nothing; PII is transformed")
    func softDeleteFlow() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(Self.variantSQL + "ALTER TABLE users REPLICA IDENTITY FULL;" + Self.publicationSQL)
        let port = Int.random(in: 20_000..<30_000)
        let yaml = "metrics: {listen: 127.0.0.1:\(port)}\n" + setup.yaml(mappings: Self.mappings())
        let bridge = try setup.startBridge(configuration: try BridgeConfiguration.parse(yaml: yaml, source: "test.yaml", environment: [:]))
        let collector = try setup.collector()

        func skipped(_ exposition: String) -> Double {
            exposition.split(separator: "\n")
                .filter { $0.hasPrefix("walbridge_updates_skipped_total{") && $0.contains(#"table="public.users""#) }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let before = skipped(try httpGet(port: port, path: "/metrics").body)

        let id = try db.sql("""
            INSERT INTO users (username, first_name, last_name, email, password_hash, phone)
            VALUES ('ada', 'Ada', 'Lovelace', 'ada@example.com', 'secret-hash', '+44 20 7946 0123') RETURNING id
            """).rows[0][0]!
        try db.sql("UPDATE users SET last_login_at = now() WHERE id = \(id)")                 // skipped
        try db.sql("UPDATE users SET deleted_at = now() WHERE id = \(id)")                    // UserDeleted
        try db.sql("UPDATE users SET deleted_at = NULL WHERE id = \(id)")                     // UserRestored
        try db.sql("UPDATE users SET email = 'ada@lovelace.org' WHERE id = \(id)")            // UserEmailChanged
        try db.sql("UPDATE users SET last_login_at = now(), password_hash = 'x' WHERE id = \(id)")  // skipped
        try db.sql("UPDATE users SET username = 'countess' WHERE id = \(id)")                 // UserUpdated: the sentinel
        // One key, one partition: everything before the sentinel has arrived when it has.
        let events = try collector.collect(count: 5)
        #expect(events.map(\.eventType) == ["UserRegistered", "UserDeleted", "UserRestored", "UserEmailChanged", "UserUpdated"])
        #expect(Set(events.map(\.key)) == [id])
        try waitUntil("the two skipped logins counted", timeout: .seconds(10)) {
            skipped(try httpGet(port: port, path: "/metrics").body) == before + 2
        }
        #expect(try bridge.stopAndWait() == nil)

        let registered = try #require(events[0].data)
        #expect(registered["phone"] as? String == "************0123")
        #expect(registered["firstNameHash"] as? String == (try Self.pythonHMAC("Ada")))
        #expect(registered["email"] as? String == "ada@example.com")
        #expect(events[1].data?.keys.sorted() == ["userId"], "the soft delete carries its rule's fields only")
        #expect(Set(events[2].data?.keys.map { $0 } ?? []) == ["userId", "username", "email", "phone", "firstNameHash"])
        #expect(events[3].envelope["changedFields"] as? [String] == ["email"])
        #expect(events[4].envelope["changedFields"] as? [String] == ["username"])
        // One change, one id: the ids are the changes', distinct.
        #expect(Set(events.compactMap(\.eventID)).count == 5)
        for event in events {
            let text = String(decoding: event.record.value ?? [], as: UTF8.self)
            #expect(!text.contains("7946"), "the phone number is masked")
            #expect(!text.contains(Self.piiKey))
            #expect(!text.contains("\"Ada\""), "the first name is hashed")
        }
    }

    @Test("under REPLICA IDENTITY DEFAULT, validate and run refuse update rules and skip_unchanged (exit 2) with the ALTER TABLE")
    func refusedWithoutFullReplicaIdentity() throws {
        let setup = try BridgeTestSetup(publish: false)
        try setup.database.sql(Self.variantSQL)
        for rules in [true, false] {
            let path = try setup.writeConfiguration(setup.yaml(mappings: Self.mappings(rules: rules)))
            for command in ["validate", "run"] {
                let result = try WalBridgeProcess.run([command, "--config", path])
                #expect(result.status == 2, "\(command): \(result.status) \(result.stderr)")
                #expect(result.stderr.contains("table public.users has REPLICA IDENTITY DEFAULT"), "\(command): \(result.stderr)")
                #expect(result.stderr.contains(#"ALTER TABLE "public"."users" REPLICA IDENTITY FULL"#), "\(command): \(result.stderr)")
                #expect(result.stderr.contains(rules ? "events.update rules" : "skip_unchanged"), "\(command): \(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains(Self.piiKey))
            }
        }
        // Nothing was created on the way.
        let slots = try setup.database.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)'")
        #expect(slots.rows[0][0] == "0")
    }

    @Test("a rule column missing from an existing publication's column list is refused")
    func ruleColumnMissingFromPublication() throws {
        let setup = try BridgeTestSetup()  // the publication lists id, username, first_name, last_name, email
        try setup.database.sql(Self.variantSQL + "ALTER TABLE users REPLICA IDENTITY FULL;")
        let mappings = Self.mappings().replacingOccurrences(of: "          phone: {as: phone, mask: last4}\n", with: "")
        let path = try setup.writeConfiguration(setup.yaml(mappings: mappings))
        let result = try WalBridgeProcess.run(["validate", "--config", path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("deleted_at"), "\(result.stderr)")
    }

    @Test("a rule naming a column the table lacks is caught by validate, with a suggestion")
    func unknownRuleColumn() throws {
        let setup = try BridgeTestSetup(publish: false)
        try setup.database.sql(Self.variantSQL + "ALTER TABLE users REPLICA IDENTITY FULL;")
        let path = try setup.writeConfiguration(setup.yaml(mappings: Self.mappings().replacingOccurrences(of: "{set: deleted_at}", with: "{set: deletedat}")))
        let result = try WalBridgeProcess.run(["validate", "--config", path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("events.update: table public.users has no column 'deletedat'; did you mean 'deleted_at'?"), "\(result.stderr)")
    }

    @Test("the HMAC key is in no output: validate, schema, run's log, a short key's error")
    func keyNeverPrinted() throws {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(Self.variantSQL + "ALTER TABLE users REPLICA IDENTITY FULL;" + Self.publicationSQL)
        let yaml = "logging: {level: debug, format: text}\n" + setup.yaml(mappings: Self.mappings(key: "${PII_KEY}"))
        let path = try setup.writeConfiguration(yaml)
        let environment = ["PII_KEY": Self.piiKey]
        var outputs: [String] = []

        let validate = try WalBridgeProcess.run(["validate", "--config", path], environment: environment)
        #expect(validate.status == 0, "\(validate.stderr)")
        outputs.append(validate.stdout + validate.stderr)
        let schema = try WalBridgeProcess.run(["schema", "--config", path], environment: environment)
        #expect(schema.status == 0, "\(schema.stderr)")
        #expect(schema.stdout.contains("UserRestored") && schema.stdout.contains("^[0-9a-f]{64}$"))
        outputs.append(schema.stdout + schema.stderr)
        let short = try WalBridgeProcess.run(["validate", "--config", path], environment: ["PII_KEY": "too-short-a-secret"])
        #expect(short.status == 2)
        #expect(short.stderr.contains("at least 32 bytes"), "\(short.stderr)")
        #expect(!(short.stdout + short.stderr).contains("too-short-a-secret"))

        let run = try WalBridgeProcess(["run", "--config", path], environment: environment)
        do { try db.waitForActiveSlot() } catch {
            Issue.record("walbridge run did not stream: \(run.stderr)")
            throw error
        }
        let collector = try setup.collector()
        try setup.insertUser("grace")
        try db.sql("UPDATE users SET deleted_at = now() WHERE username = 'grace'")
        #expect(try collector.collect(count: 2).map(\.eventType) == ["UserRegistered", "UserDeleted"])
        run.signal(SIGTERM)
        #expect(try run.waitForExit() == 0, "\(run.stderr)")
        outputs.append(run.stdout + run.stderr)
        for output in outputs {
            #expect(!output.contains(Self.piiKey), "the HMAC key must never be printed")
            #expect(!output.contains("First grace"), "a hashed column's value must never be printed")
        }
    }

    @Test("a dead letter of an unmappable change leaves the transformed columns out")
    func deadLetterLeavesTransformedColumnsOut() throws {
        let deadLetterTopic = "walbridge.dlq"
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql("""
            CREATE TABLE accounts (id int PRIMARY KEY, ext_id text, email text, phone text);
            GRANT SELECT ON accounts TO walbridge;
            CREATE PUBLICATION walbridge FOR TABLE accounts (id, ext_id, email, phone);
            """)
        try setup.cluster.createTopic(deadLetterTopic, partitions: 1)
        try setup.cluster.createTopic("auth.accounts", partitions: 1)
        let mappings = """
          - table: public.accounts
            topic: auth.accounts
            key: [ext_id]
            events: {insert: AccountOpened}
            fields:
              ext_id: extId
              email: {as: emailHash, hash: hmac-sha256, key: "\(Self.piiKey)"}
              phone: {as: phone, mask: last4}
        """
        let configuration = try BridgeConfiguration.parse(
            yaml: setup.yaml(mappings: mappings, kafkaExtra: "  dead_letter_topic: \(deadLetterTopic)"), source: "test.yaml", environment: [:])
        let bridge = try setup.startBridge(configuration: configuration)
        let letters = try EventCollector(bootstrapServers: setup.cluster.bootstrapServers, topic: deadLetterTopic)
        let events = try EventCollector(bootstrapServers: setup.cluster.bootstrapServers, topic: "auth.accounts")
        try db.sql("INSERT INTO accounts VALUES (1, NULL, 'lin@example.com', '+1 555 0100')")   // a NULL key: unmappable
        try db.sql("INSERT INTO accounts VALUES (2, 'a-2', 'kim@example.com', '+1 555 0199')")
        let letter = try #require(try letters.collect(count: 1).first)
        let event = try #require(try events.collect(count: 1).first)
        #expect(try bridge.stopAndWait() == nil)
        let text = String(decoding: letter.record.value ?? [], as: UTF8.self)
        #expect(letter.header("walbridge-error")?.contains("ext_id") == true)
        #expect(!text.contains("lin@example.com") && !text.contains("0100"), "\(text)")
        #expect(text.contains("ext_id"), "\(text)")
        #expect(event.data?["emailHash"] as? String == (try Self.pythonHMAC("kim@example.com")))
        #expect(event.data?["phone"] as? String == "*******0199")
    }
}
