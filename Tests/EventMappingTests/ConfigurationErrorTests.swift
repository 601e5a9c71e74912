@testable import EventMapping
import Testing

@Suite("Configuration: error messages")
struct ConfigurationErrorTests {
    @Test("unknown keys name the closest valid key", arguments: [
        ("bootstrap_servers: 127.0.0.1:9092", "bootstrap_server: 127.0.0.1:9092", "kafka", "bootstrap_server", "bootstrap_servers", "in kafka"),
        ("slot: walbridge", "slott: walbridge", "postgres", "slott", "slot", "in postgres"),
        ("shutdown_timeout: 10s", "shutdown_timout: 10s", "", "shutdown_timout", "shutdown_timeout", "at the top level"),
        ("    topic: auth.users.events", "    topics: auth.users.events", "mappings[0]", "topics", "topic", "in mappings[0]"),
        ("    fields:  ", "    feilds:  ", "mappings[0]", "feilds", "fields", "in mappings[0]"),
        ("path: ./walbridge-state/checkpoint.json", "pth: ./walbridge-state/checkpoint.json", "checkpoint", "pth", "path", "in checkpoint"),
        ("logging: {level: info, format: text}", "logging: {levle: info, format: text}", "logging", "levle", "level", "in logging"),
        ("metrics: {listen: null}", "metrics: {liste: null}", "metrics", "liste", "listen", "in metrics"),
        ("events: {insert: UserRegistered,", "events: {insrt: UserRegistered,", "mappings[0].events", "insrt", "insert", "in mappings[0].events"),
    ])
    func unknownKey(old: String, new: String, path: String, key: String, suggestion: String, place: String) throws {
        var yaml = Fixtures.designYAML(replacing: old, with: new)
        if new.hasPrefix("    feilds") {
            // `fields` is then missing too, but the unknown key is reported first.
            yaml = yaml.replacingOccurrences(of: "    feilds:", with: "    feilds:")
        }
        let error = try #require(Fixtures.error(yaml))
        #expect(error.kind == .unknownKey(key: key, suggestion: suggestion))
        #expect(error.keyPath == path)
        #expect(error.description.contains("unknown key '\(key)' \(place); did you mean '\(suggestion)'?"), "\(error)")
        #expect(error.description.hasPrefix("walbridge.yaml:"))
        #expect(error.line != nil)
    }

    @Test func farOffKeyListsTheValidOnes() throws {
        let yaml = Fixtures.designYAML(replacing: "slot: walbridge", with: "xyzzy_plugh_quux: 1")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.description.contains("valid keys are: 'url', 'slot', 'publication', 'replay_window'"), "\(error)")
    }

    @Test func keyOfAnotherKind() throws {
        let yaml = Fixtures.designYAML(replacing: "  - table: public.users", with: "  - table: public.users\n    prefix: x")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.keyPath == "mappings[0]")
        #expect(error.description.contains("'prefix' does not apply to a mapping of kind table"))
    }

    @Test func malformedYAMLGivesLineAndColumn() throws {
        let yaml = Fixtures.designYAML(replacing: "  slot: walbridge", with: "  slot: [walbridge")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.kind == .malformedYAML)
        #expect(error.line != nil && error.line! >= 3)
        #expect(error.description.hasPrefix("walbridge.yaml:\(error.line!):"))
        #expect(error.description.contains("not valid YAML"))
        #expect(!error.description.contains("s3cr3t"))
    }

    @Test func badIndentation() throws {
        let error = try #require(Fixtures.error("postgres:\n  url: x\n bad: 1\n"))
        #expect(error.kind == .malformedYAML)
        #expect(error.line == 3)
    }

    @Test func duplicateKeys() throws {
        let yaml = Fixtures.designYAML(replacing: "  slot: walbridge", with: "  slot: walbridge\n  slot: other")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.kind == .malformedYAML)
        #expect(error.description.contains("'slot' appear twice"), "\(error)")
        #expect(!error.description.contains("s3cr3t"))
    }

    @Test func wrongTypes() throws {
        let cases: [(String, String, String, String)] = [
            ("slot: walbridge", "slot: [1]", "postgres.slot", "expected a string, found a list"),
            ("slot: walbridge", "slot: {a: 1}", "postgres.slot", "expected a string, found a mapping"),
            ("key: [id]", "key: id", "mappings[0].key", "expected a list of names"),
            ("properties: {}", "properties: [a]", "kafka.properties", "found a list"),
            ("logging: {level: info, format: text}", "logging: verbose", "logging", "found a single value"),
            ("mappings:", "mappings: {}\nx_unused:", "", ""),
        ]
        for (old, new, path, fragment) in cases.dropLast() {
            let error = try #require(Fixtures.error(Fixtures.designYAML(replacing: old, with: new)))
            #expect(error.keyPath == path, "\(error)")
            #expect(error.description.contains(fragment), "\(error)")
            #expect(error.description.hasPrefix("walbridge.yaml:"))
        }
    }

    @Test func invalidValues() throws {
        let cases: [(String, String, String, String)] = [
            ("level: info", "level: verbose", "logging.level", "write one of: trace, debug, info, notice, warning, error, critical"),
            ("format: text", "format: jsn", "logging.format", "did you mean 'json'?"),
            ("listen: null", "listen: localhost", "metrics.listen", "host:port"),
            ("slot: walbridge", "slot: Wal-Bridge", "postgres.slot", "lower-case letters"),
            ("topic: auth.users.events", "topic: auth users", "mappings[0].topic", "not a valid Kafka topic name"),
            ("topic: auth.users.events", "topic: \"\"", "mappings[0].topic", "must not be empty"),
            ("table: public.users", "table: a.b.c", "mappings[0].table", "3 dot-separated parts"),
            ("key: [id]", "key: [nope]", "mappings[0].key[0]", "key column 'nope' is not listed in mappings[0].fields"),
            ("key: [id]", "key: []", "mappings[0].key", "the key list is empty"),
            ("key: [id]", "key: [id, id]", "mappings[0].key[1]", "listed twice"),
            ("username: username", "username: email", "mappings[0].fields.email", "columns 'username' and 'email' are both published as 'email'"),
            ("events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}", "events: {}", "mappings[0].events", "names no event"),
            ("key: [id]", "key: [id]\n    tombstones: maybe", "mappings[0].tombstones", "write true or false"),
            ("key: [id]", "key: [id]\n    schema_version: 0", "mappings[0].schema_version", "between 1 and"),
            ("key: [id]", "key: [id]\n    kind: tabel", "mappings[0].kind", "did you mean 'table'?"),
            ("key: [id]", "key: [id]\n    snapshot: {mode: always}", "mappings[0].snapshot.mode", "never, initial"),
            ("key: [id]", "key: [id]\n    snapshot: {chunk_size: -5}", "mappings[0].snapshot.chunk_size", "not a whole number"),
            ("dead_letter_topic: null", "dead_letter_topic: auth.users.events", "kafka.dead_letter_topic", "also the topic of mappings[0]"),
        ]
        for (old, new, path, fragment) in cases {
            let error = try #require(Fixtures.error(Fixtures.designYAML(replacing: old, with: new)), "\(new) should fail")
            #expect(error.keyPath == path, "\(new): \(error)")
            #expect(error.description.contains(fragment), "\(new): \(error)")
        }
    }

    @Test func missingKeys() throws {
        let cases: [(String, String, String)] = [
            ("  url: postgres://walbridge:${PGPASSWORD}@127.0.0.1:5432/auth\n", "", "postgres.url"),
            ("  bootstrap_servers: 127.0.0.1:9092\n", "", "kafka.bootstrap_servers"),
            ("    topic: auth.users.events\n", "", "mappings[0].topic"),
            ("    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}\n", "", "mappings[0].events"),
        ]
        for (old, new, path) in cases {
            let error = try #require(Fixtures.error(Fixtures.designYAML(replacing: old, with: new)))
            #expect(error.keyPath == path, "\(error)")
            #expect(error.description.contains("is required but missing"), "\(error)")
        }
        let noMappings = try #require(Fixtures.error("postgres: {url: 'postgres://h/d'}\nkafka: {bootstrap_servers: 'k:1'}\n"))
        #expect(noMappings.kind == .missingKey("mappings"))
        #expect(Fixtures.error("")?.kind == .missingKey("postgres"))
        #expect(Fixtures.error("- a\n- b\n")?.kind == .wrongType)
    }

    @Test func duplicateTableMappings() throws {
        let yaml = Fixtures.designYAML + "\n  - {table: users, topic: other, events: {insert: X}, fields: {id: id}}\n"
        let error = try #require(Fixtures.error(yaml))
        #expect(error.keyPath == "mappings[1].table")
        #expect(error.description.contains("already mapped by mappings[0]"))
    }

    @Test func tombstonesNeedADeleteEvent() throws {
        let yaml = Fixtures.designYAML(replacing: "events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}",
                                       with: "events: {insert: UserRegistered}\n    tombstones: true")
        let error = try #require(Fixtures.error(yaml))
        #expect(error.keyPath == "mappings[0].tombstones")
    }

    // MARK: Secrets never appear

    @Test func passwordNeverInErrorText() throws {
        let secret = "Sup3rS3cret"
        let badURLs = [
            "postgres://walbridge:\(secret)@127.0.0.1:99999/auth",
            "postgres://walbridge:\(secret)@127.0.0.1:abc/auth",
            "mysql://walbridge:\(secret)@127.0.0.1/auth",
            "postgres://walbridge:\(secret)@[::1:5432/auth",
        ]
        for url in badURLs {
            let yaml = Fixtures.designYAML(replacing: "postgres://walbridge:${PGPASSWORD}@127.0.0.1:5432/auth", with: "'\(url)'")
            let error = try #require(Fixtures.error(yaml), "\(url) should be rejected")
            #expect(error.keyPath == "postgres.url")
            #expect(!error.description.contains(secret), "\(error)")
            #expect(!error.message.contains(secret))
        }
        // Through the environment as well.
        let yaml = Fixtures.designYAML(replacing: "127.0.0.1:5432", with: "127.0.0.1:0")
        let error = try #require(Fixtures.error(yaml, environment: ["PGPASSWORD": secret]))
        #expect(error.description.contains("port is not a number from 1 to 65535"))
        #expect(error.description.contains("postgres://walbridge:***@127.0.0.1:0/auth"))
        #expect(!error.description.contains(secret))
    }

    @Test func kafkaPropertyValuesNeverInErrorText() throws {
        let secret = "kafkaS3cret"
        let cases = [
            "properties: {sasl.password: [\(secret)]}",
            "properties: {sasl.password: \"\(secret)${\"}",
            "properties: {sasl.password: \"${\(secret) x}\"}",
        ]
        for line in cases {
            let yaml = Fixtures.designYAML(replacing: "properties: {}", with: line)
            let error = try #require(Fixtures.error(yaml), "\(line) should be rejected")
            #expect(error.keyPath == "kafka.properties.sasl.password")
            #expect(!error.description.contains(secret), "\(error)")
        }
    }

    @Test func malformedYAMLNeverQuotesTheFile() throws {
        let yaml = "postgres:\n  url: postgres://u:TopSecret1@h/db\n  slot: [unclosed\nkafka: {}\n"
        let error = try #require(Fixtures.error(yaml))
        #expect(error.kind == .malformedYAML)
        #expect(!error.description.contains("TopSecret1"))
    }
}
