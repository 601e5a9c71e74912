@testable import Configuration
@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Configuration: parsing, defaults and substitution")
struct ConfigurationTests {
    @Test func designExampleParses() throws {
        let config = try Fixtures.configuration()
        #expect(config.postgres.url == "postgres://walbridge:s3cr3t-pw@127.0.0.1:5432/auth")
        #expect(config.postgres.redactedURL == "postgres://walbridge:***@127.0.0.1:5432/auth")
        #expect(config.postgres.slot == "walbridge")
        #expect(config.postgres.publication == "walbridge")
        #expect(config.postgres.replayWindow == .zero)
        #expect(config.kafka.bootstrapServers == "127.0.0.1:9092")
        #expect(config.kafka.properties.isEmpty)
        #expect(config.kafka.deadLetterTopic == nil)
        #expect(config.checkpoint.path == "./walbridge-state/checkpoint.json")
        #expect(config.shutdownTimeout == .seconds(10))
        #expect(config.logging.level == .info)
        #expect(config.logging.format == .text)
        #expect(config.metrics.listen == nil)
        #expect(config.source == "walbridge.yaml")
        #expect(config.mappings.count == 1)
        let users = try #require(config.tableMappings.first)
        #expect(users.table == QualifiedName(schema: "public", table: "users"))
        #expect(users.topic == "auth.users.events")
        #expect(users.key == ["id"])
        #expect(users.events == .init(insert: "UserRegistered", update: "UserUpdated", delete: "UserDeleted"))
        #expect(users.fields.map(\.column) == ["id", "username", "first_name", "last_name", "email"])
        #expect(users.fields.map(\.field) == ["userId", "username", "firstName", "lastName", "email"])
        #expect(users.rowFilter == nil)
        #expect(users.schemaVersion == 1)
        #expect(users.tombstones == false)
        #expect(users.truncate == .skip)
        #expect(users.snapshot == SnapshotSettings(mode: .never, eventType: nil, chunkSize: 10_000))
        #expect(config.mappedTables == [QualifiedName(schema: "public", table: "users")])
        #expect(!config.description.contains("s3cr3t"))
    }

    @Test func minimalFileGetsDefaults() throws {
        let config = try Fixtures.configuration("""
        postgres: {url: "postgres://localhost/auth"}
        kafka: {bootstrap_servers: "k:9092"}
        mappings:
          - table: users
            topic: t
            events: {insert: Created}
            fields: {id: id}
        """)
        #expect(config.postgres.slot == "walbridge")
        #expect(config.postgres.publication == "walbridge")
        #expect(config.postgres.replayWindow == .zero)
        #expect(config.checkpoint.path == "./walbridge-state/checkpoint.json")
        #expect(config.shutdownTimeout == .seconds(10))
        #expect(config.logging == .init(level: .info, format: .text))
        #expect(config.metrics.listen == nil)
        let mapping = try #require(config.tableMappings.first)
        #expect(mapping.table == QualifiedName(schema: "public", table: "users"))
        #expect(mapping.key == nil)
        #expect(mapping.events == .init(insert: "Created"))
        #expect(mapping.snapshotEventType == "Created")
    }

    @Test func everyOptionParses() throws {
        let config = try Fixtures.configuration("""
        postgres:
          url: postgresql://u@db.internal:6543/app
          slot: app_slot
          publication: app_pub
          replay_window: 6h
        kafka:
          bootstrap_servers: a:9092,b:9092
          properties:
            acks: all
            enable.idempotence: true
            linger.ms: 5
            batch.size: 1e3
          dead_letter_topic: walbridge.dlq
        checkpoint: {path: /var/lib/walbridge/cp.json}
        shutdown_timeout: 500ms
        logging: {level: debug, format: json}
        metrics: {listen: "127.0.0.1:9187"}
        mappings:
          - kind: table
            table: '"Quoted"" . Schema"."Order Items"'
            topic: orders
            key: [org_id, id]
            events: {update: OrderUpdated, delete: OrderDeleted}
            fields:
              org_id: orgId
              id: orderId
              total:
            where: "status <> 'draft'"
            schema_version: 3
            tombstones: true
            truncate: OrdersTruncated
            snapshot: {mode: initial, event: OrderSnapshotted, chunk_size: 500}
          - kind: outbox
            table: app.outbox
            topic: outbox.{aggregate_type}.events
            outbox: {aggregate_type: agg_type, aggregate_id: agg_id, event_type: kind, payload: body}
          - kind: message
            prefix: walbridge
            topic: messages
            event: MessageReceived
            schema_version: 2
        """)
        #expect(config.postgres.replayWindow == .seconds(6 * 3600))
        #expect(config.kafka.properties == ["acks": "all", "enable.idempotence": "true", "linger.ms": "5", "batch.size": "1e3"])
        #expect(config.kafka.deadLetterTopic == "walbridge.dlq")
        #expect(config.checkpoint.path == "/var/lib/walbridge/cp.json")
        #expect(config.shutdownTimeout == .milliseconds(500))
        #expect(config.logging == .init(level: .debug, format: .json))
        #expect(config.metrics.listen == "127.0.0.1:9187")
        #expect(config.metrics.listenAddress?.host == "127.0.0.1")
        #expect(config.metrics.listenAddress?.port == 9187)

        let orders = try #require(config.tableMappings.first)
        #expect(orders.table == QualifiedName(schema: "Quoted\" . Schema", table: "Order Items"))
        #expect(orders.table.sqlQuoted == #""Quoted"" . Schema"."Order Items""#)
        #expect(orders.key == ["org_id", "id"])
        #expect(orders.events == .init(update: "OrderUpdated", delete: "OrderDeleted"))
        #expect(orders.fields == [
            FieldMapping(column: "org_id", field: "orgId"), FieldMapping(column: "id", field: "orderId"),
            FieldMapping(column: "total", field: "total"),
        ])
        #expect(orders.rowFilter == "status <> 'draft'")
        #expect(orders.schemaVersion == 3)
        #expect(orders.tombstones)
        #expect(orders.truncate == .publish(eventType: "OrdersTruncated"))
        #expect(orders.snapshot == SnapshotSettings(mode: .initial, eventType: "OrderSnapshotted", chunkSize: 500))

        let outbox = try #require(config.outboxMappings.first)
        #expect(outbox.index == 1)
        #expect(outbox.table == QualifiedName(schema: "app", table: "outbox"))
        #expect(outbox.columns == .init(aggregateType: "agg_type", aggregateID: "agg_id", eventType: "kind", payload: "body"))
        #expect(outbox.topic(forAggregateType: "Order") == "outbox.Order.events")

        let message = try #require(config.messageMappings.first)
        #expect(message == MessageMapping(index: 2, prefix: "walbridge", topic: "messages", eventType: "MessageReceived", schemaVersion: 2))
        #expect(config.mappedTables.count == 2)
    }

    @Test func fieldOrderIsKeptNotSorted() throws {
        let yaml = Fixtures.designYAML(replacing: """
              id: userId
              username: username
              first_name: firstName
              last_name: lastName
              email: email
        """, with: """
              zeta: z
              id: userId
              alpha: a
              mid: m
        """)
        let config = try Fixtures.configuration(yaml)
        #expect(config.tableMappings[0].fields.map(\.column) == ["zeta", "id", "alpha", "mid"])
    }

    @Test func outboxDefaults() throws {
        let config = try Fixtures.configuration("""
        postgres: {url: "postgres://localhost/auth"}
        kafka: {bootstrap_servers: "k:9092"}
        mappings:
          - {kind: outbox, table: outbox, topic: events}
        """)
        #expect(config.outboxMappings.first?.columns == .init(aggregateType: "aggregatetype", aggregateID: "aggregateid", eventType: "type", payload: "payload"))
    }

    // MARK: Substitution

    @Test func environmentSubstitution() throws {
        let yaml = Fixtures.designYAML(replacing: "slot: walbridge", with: "slot: ${SLOT}_x")
        let config = try Fixtures.configuration(yaml, environment: ["PGPASSWORD": "p", "SLOT": "blue"])
        #expect(config.postgres.slot == "blue_x")
        #expect(config.postgres.url == "postgres://walbridge:p@127.0.0.1:5432/auth")
    }

    @Test func unsetVariableIsNamed() throws {
        let error = try #require(Fixtures.error(Fixtures.designYAML, environment: [:]))
        #expect(error.kind == .unsetVariable("PGPASSWORD"))
        #expect(error.keyPath == "postgres.url")
        #expect(error.description.contains("'PGPASSWORD' is not set"))
        #expect(error.description.hasPrefix("walbridge.yaml:2:"))
    }

    @Test func substitutedTextCannotInjectYAML() throws {
        let yaml = Fixtures.designYAML(replacing: "publication: walbridge", with: "publication: ${PUB}")
        let config = try Fixtures.configuration(yaml, environment: ["PGPASSWORD": "p", "PUB": "x\nslot: evil\n[{"])
        #expect(config.postgres.publication == "x\nslot: evil\n[{")
        #expect(config.postgres.slot == "walbridge")
    }

    @Test func substitutedNumbersAndDurations() throws {
        let yaml = Fixtures.designYAML(replacing: "shutdown_timeout: 10s", with: "shutdown_timeout: ${T}")
        let config = try Fixtures.configuration(yaml, environment: ["PGPASSWORD": "p", "T": "30s"])
        #expect(config.shutdownTimeout == .seconds(30))
    }

    @Test func dollarDollarIsALiteral() throws {
        let yaml = Fixtures.designYAML(replacing: "publication: walbridge", with: "publication: a$${B}c$d")
        let config = try Fixtures.configuration(yaml)
        #expect(config.postgres.publication == "a${B}c$d")
    }

    @Test func invalidReferences() throws {
        for (text, fragment) in [("${1X}", "neither ${NAME}"), ("${", "no closing"), ("${A B}", "neither")] {
            let yaml = Fixtures.designYAML(replacing: "publication: walbridge", with: "publication: \"\(text)\"")
            let error = try #require(Fixtures.error(yaml))
            #expect(error.keyPath == "postgres.publication")
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test func secretFromFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("walbridge-secret-\(UUID().uuidString)").path
        try "file-pw\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let yaml = Fixtures.designYAML(replacing: "${PGPASSWORD}", with: "${file:\(path)}")
        let config = try Fixtures.configuration(yaml, environment: [:])
        #expect(config.postgres.url == "postgres://walbridge:file-pw@127.0.0.1:5432/auth")

        let missing = Fixtures.designYAML(replacing: "${PGPASSWORD}", with: "${file:/nonexistent/walbridge/secret}")
        let error = try #require(Fixtures.error(missing))
        #expect(error.kind == .unreadableSecretFile("/nonexistent/walbridge/secret"))
        #expect(error.description.contains("/nonexistent/walbridge/secret"))
    }

    @Test func secretFileTrimsOnlyOneTrailingNewline() throws {
        let contents = ["a\n": "a", "a\r\n": "a", "a\n\n": "a\n", "a": "a", "a b ": "a b "]
        for (content, expected) in contents {
            let result = try EnvironmentSubstitution.apply("${file:/s}", environment: [:]) { $0 == "/s" ? content : nil }
            #expect(result == expected)
        }
    }

    // MARK: Durations

    @Test("valid durations", arguments: [
        ("0", Duration.zero), ("0s", .zero), ("500ms", .milliseconds(500)), ("30s", .seconds(30)), ("15m", .seconds(900)),
        ("6h", .seconds(21_600)), ("7d", .seconds(604_800)), ("1ms", .milliseconds(1)),
    ])
    func durations(text: String, expected: Duration) throws {
        #expect(DurationText.parse(text) == expected)
        let yaml = Fixtures.designYAML(replacing: "shutdown_timeout: 10s", with: "shutdown_timeout: \(text)")
        #expect(try Fixtures.configuration(yaml).shutdownTimeout == expected)
    }

    @Test("invalid durations", arguments: ["10", "1.5s", "-1s", "s", "10 s", "10S", "1w", "10sec", "99999999999999999999d", "\"\"", "ms"])
    func badDurations(text: String) throws {
        let yaml = Fixtures.designYAML(replacing: "replay_window: 0s", with: "replay_window: \(text)")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.keyPath == "postgres.replay_window")
        #expect(error.description.contains("500ms, 30s, 15m, 6h or 7d"), "\(error)")
    }

    @Test func durationFormatting() {
        #expect(DurationText.format(.seconds(7200)) == "2h")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.zero) == "0s")
    }

    // MARK: Table names

    @Test("table names", arguments: [
        ("public.users", "public", "users"),
        ("users", "public", "users"),
        ("Auth.Users", "auth", "users"),
        (#""Quoted"" . Schema"."Order Items""#, "Quoted\" . Schema", "Order Items"),
        (#""my.schema".t"#, "my.schema", "t"),
        (#"s."T""#, "s", "T"),
        (#"  s . t  "#, "s", "t"),
        (#""""""#, "public", "\""),
        ("\"\"\"\"\"\"", "public", "\"\""),
    ])
    func tableNames(text: String, schema: String, table: String) throws {
        #expect(try QualifiedName.parse(text) == QualifiedName(schema: schema, table: table))
    }

    @Test("bad table names", arguments: ["", "a.b.c", "\"open", "a.", ".b", "\"a\"x", "my table", "1abc", "a\"b"])
    func badTableNames(text: String) {
        #expect(throws: QualifiedName.ParseError.self) { try QualifiedName.parse(text) }
    }

    @Test func sqlQuoting() throws {
        #expect(QualifiedName(schema: "public", table: "users").sqlQuoted == #""public"."users""#)
        #expect(QualifiedName(schema: "a\"b", table: "c d").sqlQuoted == #""a""b"."c d""#)
        #expect(QualifiedName(schema: "public", table: "users").description == "public.users")
        #expect(QualifiedName(schema: "Public", table: "order items").description == #""Public"."order items""#)
        for name in [QualifiedName(schema: "x\"\" .y", table: "Z"), QualifiedName(schema: "s", table: "t")] {
            #expect(try QualifiedName.parse(name.sqlQuoted) == name)
            #expect(try QualifiedName.parse(name.description) == name)
        }
    }

    @Test func loadFromFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("walbridge-\(UUID().uuidString).yaml").path
        try Fixtures.designYAML.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try BridgeConfiguration.load(path: path, environment: Fixtures.environment)
        #expect(config.source == path)
        #expect(config.tableMappings.count == 1)

        #expect {
            _ = try BridgeConfiguration.load(path: "/nonexistent/walbridge.yaml", environment: [:])
        } throws: { error in
            (error as? ConfigurationError)?.kind == .unreadableFile
                && "\(error)".hasPrefix("/nonexistent/walbridge.yaml: cannot read")
        }
    }

    @Test func redaction() {
        #expect(redactedURL("postgres://u:pw@h:5432/db") == "postgres://u:***@h:5432/db")
        #expect(redactedURL("postgres://u@h/db") == "postgres://u@h/db")
        #expect(redactedURL("postgres://h/db") == "postgres://h/db")
        #expect(redactedURL("postgres://u:p@ss/w@rd@h/db") == "postgres://u:***@h/db")
        #expect(redactedURL("postgres://h/db?user=u&password=pw&sslmode=require") == "postgres://h/db?user=u&password=***&sslmode=require")
        #expect(redactedURL("host=h password=pw dbname=d") == "host=h password=*** dbname=d")
        #expect(redactedURL("host=h password = 'p w\\' x' dbname=d") == "host=h password=*** dbname=d")
    }
}
