import EventMapping
import Foundation
import Testing
import WalBridge

/// Issue 18: the cloudevents, cloudevents-structured and debezium formats read
/// back from the broker; the CloudEvents records parsed by the CloudEvents Python SDK.
@Suite("Event formats end to end", .serialized)
struct EventFormatsEndToEndTests {
    static let parser = TestDatabase.repositoryRoot.appendingPathComponent("Tests/IntegrationTests/Fixtures/parse_cloudevents.py").path

    /// Whether `python3` can import the CloudEvents SDK (scripts/test.sh installs it).
    static let hasSDK: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import cloudevents.kafka"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Inserts, updates and deletes one user under `format`; returns the three records read back.
    static func run(format: String, replicaIdentityFull: Bool = false) throws -> [ReceivedEvent] {
        let setup = try BridgeTestSetup(publish: !replicaIdentityFull)
        if replicaIdentityFull {
            // No column list: under FULL, Postgres 15 requires the list to cover every column.
            try setup.database.sql("ALTER TABLE users REPLICA IDENTITY FULL; CREATE PUBLICATION walbridge FOR TABLE users;")
        }
        let bridge = try setup.startBridge(configuration: try setup.configuration(
            mappingExtra: "    format: \(format)" + (format.hasPrefix("cloudevents") ? "\n    cloudevents: {type_prefix: com.example.auth.}" : "")))
        let collector = try setup.collector()
        let id = try setup.database.sql("""
            INSERT INTO users (username, first_name, last_name, email, password_hash)
            VALUES ('ada', 'Ada', 'Lovelace', 'ada@example.com', 'secret-hash') RETURNING id
            """).rows[0][0]!
        try setup.database.sql("UPDATE users SET last_name = 'King' WHERE id = \(id)")
        try setup.database.sql("DELETE FROM users WHERE id = \(id)")
        // One key, one partition: the delete is the last of the three.
        let events = try collector.collect(count: 3)
        #expect(try bridge.stopAndWait() == nil)
        try #require(events.count == 3)
        for event in events { #expect(event.record.value.map { String(decoding: $0, as: UTF8.self).contains("secret-hash") } == false) }
        return events
    }

    /// The records parsed by the SDK: per record, its attributes and data.
    static func parse(_ events: [ReceivedEvent], mode: String) throws -> [(attributes: [String: String], data: [String: Any])] {
        let records: [[String: Any]] = events.map { event in
            var headers: [String: String] = [:]
            for header in event.record.headers { headers[header.name] = header.value.map { String(decoding: $0, as: UTF8.self) } ?? "" }
            return ["mode": mode, "headers": headers, "key": event.key as Any? ?? NSNull(),
                    "value": String(decoding: event.record.value ?? [], as: UTF8.self)]
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("walbridge-ce-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: records).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", parser, file.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the CloudEvents SDK could not parse the records: \(errorText)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try parsed.map { item in
            (try #require(item["attributes"] as? [String: String]), try #require(item["data"] as? [String: Any]))
        }
    }

    static func checkCloudEvents(_ events: [ReceivedEvent], mode: String) throws {
        let parsed = try parse(events, mode: mode)
        let types = ["com.example.auth.UserRegistered", "com.example.auth.UserUpdated", "com.example.auth.UserDeleted"]
        let key = try #require(events[0].key)
        var ids: Set<String> = []
        for (index, event) in parsed.enumerated() {
            let attributes = event.attributes
            #expect(attributes["specversion"] == "1.0")
            #expect(attributes["type"] == types[index])
            #expect(attributes["source"]?.hasPrefix("/walbridge/") == true && attributes["source"]?.hasSuffix("/public.users") == true)
            #expect(attributes["subject"] == key)
            #expect(attributes["time"]?.hasSuffix("Z") == true)
            #expect(attributes["lsn"]?.contains("/") == true)
            #expect(attributes["txid"].flatMap { UInt32($0) } != nil)
            #expect(attributes["schemaversion"] == "1")
            #expect(attributes["snapshot"] == nil)
            #expect(attributes["id"].map { UUID(uuidString: $0) != nil } == true)
            ids.insert(attributes["id"] ?? "")
            #expect(event.data["userId"].map { "\($0)" } == key)
        }
        #expect(ids.count == 3)
        #expect(parsed[0].data["lastName"] as? String == "Lovelace")
        #expect(parsed[1].data["lastName"] as? String == "King")
        #expect(parsed[2].data.keys.sorted() == ["userId"], "a delete under REPLICA IDENTITY DEFAULT carries the key")
        #expect(events.allSatisfy { $0.key == key }, "the Kafka key is unchanged")
    }

    @Test("cloudevents (binary mode): the SDK reads every attribute from the ce_ headers",
          .enabled(if: hasSDK, "python3 cannot import cloudevents.kafka: run scripts/test.sh (it installs cloudevents) or pip install cloudevents"))
    func cloudEventsBinary() throws {
        let events = try Self.run(format: "cloudevents")
        #expect(events.allSatisfy { $0.header("content-type") == "application/json" })
        try Self.checkCloudEvents(events, mode: "binary")
    }

    @Test("cloudevents-structured: the SDK reads the application/cloudevents+json value",
          .enabled(if: hasSDK, "python3 cannot import cloudevents.kafka: run scripts/test.sh (it installs cloudevents) or pip install cloudevents"))
    func cloudEventsStructured() throws {
        let events = try Self.run(format: "cloudevents-structured")
        #expect(events.allSatisfy { $0.header("content-type") == "application/cloudevents+json" })
        try Self.checkCloudEvents(events, mode: "structured")
    }

    /// The fields of Debezium's documented PostgreSQL value (its _create_
    /// example; the `transaction` field its envelope writes as null by default).
    static let debeziumEnvelopeFields: Set<String> = ["before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"]
    static let debeziumSourceFields: Set<String> = ["version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence",
                                                    "schema", "table", "txId", "lsn", "xmin"]
    static let userFields: Set<String> = ["userId", "username", "firstName", "lastName", "email"]

    /// Debezium's envelope and source, field by field, with the JSON type of each.
    static func expectDebeziumEnvelope(_ event: ReceivedEvent, snapshot: String) throws {
        let envelope = event.envelope
        #expect(Set(envelope.keys) == debeziumEnvelopeFields)
        #expect(envelope["transaction"] is NSNull)
        for name in ["ts_ms", "ts_us", "ts_ns"] { #expect(envelope[name] is NSNumber, "\(name) is a number") }
        let source = try #require(envelope["source"] as? [String: Any])
        #expect(Set(source.keys) == debeziumSourceFields)
        #expect(source["connector"] as? String == "postgresql")
        #expect(source["version"] is String && source["name"] is String && source["db"] is String)
        #expect(source["schema"] as? String == "public" && source["table"] as? String == "users")
        #expect(source["snapshot"] as? String == snapshot)
        let lsn = try #require((source["lsn"] as? NSNumber)?.int64Value, "lsn is a number")
        #expect(lsn > 0)
        #expect(source["sequence"] as? String == "[null,\"\(lsn)\"]")
        #expect(source["txId"] is NSNumber)
        #expect(source["xmin"] is NSNull)
        let millis = try #require((source["ts_ms"] as? NSNumber)?.int64Value)
        #expect(millis > 1_700_000_000_000, "ts_ms is milliseconds")
        let micros = try #require((source["ts_us"] as? NSNumber)?.int64Value)
        #expect(micros / 1000 == millis)
        #expect((source["ts_ns"] as? NSNumber)?.int64Value == micros * 1000)
        #expect((envelope["ts_ms"] as? NSNumber)?.int64Value == millis)
        #expect((envelope["ts_us"] as? NSNumber)?.int64Value == micros)
    }

    @Test("debezium: op c, u, d with Debezium's envelope, before/after per replica identity and its key object",
          arguments: [false, true])
    func debezium(replicaIdentityFull: Bool) throws {
        let events = try Self.run(format: "debezium", replicaIdentityFull: replicaIdentityFull)
        #expect(events.map { $0.envelope["op"] as? String } == ["c", "u", "d"])
        let key = try #require(events[0].key)
        #expect(key.hasPrefix("{\"userId\":"))
        #expect(events.allSatisfy { $0.key == key })
        for event in events { try Self.expectDebeziumEnvelope(event, snapshot: "false") }
        func row(_ event: ReceivedEvent, _ field: String) -> [String: Any]? { event.envelope[field] as? [String: Any] }
        // create: before null, after the whole (published) row.
        #expect(events[0].envelope["before"] is NSNull)
        #expect(row(events[0], "after").map { Set($0.keys) } == Self.userFields)
        #expect(row(events[0], "after")?["lastName"] as? String == "Lovelace")
        // update: before null under DEFAULT (pgoutput sends no old row), the whole old row under FULL.
        if replicaIdentityFull {
            #expect(row(events[1], "before").map { Set($0.keys) } == Self.userFields)
            #expect(row(events[1], "before")?["lastName"] as? String == "Lovelace")
        } else {
            #expect(events[1].envelope["before"] is NSNull)
        }
        #expect(row(events[1], "after").map { Set($0.keys) } == Self.userFields)
        #expect(row(events[1], "after")?["lastName"] as? String == "King")
        // delete: before the key columns under DEFAULT, the whole old row under FULL; after null.
        #expect(row(events[2], "before").map { Set($0.keys) } == (replicaIdentityFull ? Self.userFields : ["userId"]))
        if replicaIdentityFull { #expect(row(events[2], "before")?["lastName"] as? String == "King") }
        #expect(events[2].envelope["after"] is NSNull)
    }

    @Test("debezium: an update of the key is a d under the old key and a c under the new one, as Debezium writes it",
          arguments: [false, true])
    func debeziumKeyChange(replicaIdentityFull: Bool) throws {
        let setup = try BridgeTestSetup(publish: !replicaIdentityFull)
        if replicaIdentityFull {
            try setup.database.sql("ALTER TABLE users REPLICA IDENTITY FULL; CREATE PUBLICATION walbridge FOR TABLE users;")
        }
        let bridge = try setup.startBridge(configuration: try setup.configuration(mappingExtra: "    format: debezium"))
        let collector = try setup.collector()
        let id = try setup.insertUser("ada")
        try setup.database.sql("UPDATE users SET id = \(id + 1000), last_name = 'King' WHERE id = \(id)")
        try collector.collect(count: 3)
        #expect(try bridge.stopAndWait() == nil)
        let events = try collector.collectAll()
        try #require(events.count == 3, "the insert, then a d and a c for the key change")
        let oldKey = "{\"userId\":\(id)}", newKey = "{\"userId\":\(id + 1000)}"
        for event in events { try Self.expectDebeziumEnvelope(event, snapshot: "false") }
        // The old key's records stay in order on its partition: the insert, then the delete.
        let underOld = events.filter { $0.key == oldKey }
        #expect(underOld.map { $0.envelope["op"] as? String } == ["c", "d"])
        let deleted = try #require(underOld.last)
        #expect(deleted.header("__debezium.newkey") == newKey)
        let before = try #require(deleted.envelope["before"] as? [String: Any])
        #expect(Set(before.keys) == (replicaIdentityFull ? Self.userFields : ["userId"]))
        #expect(before["userId"] as? Int == id)
        #expect(deleted.envelope["after"] is NSNull)
        let created = try #require(events.first { $0.key == newKey })
        #expect(created.envelope["op"] as? String == "c")
        #expect(created.header("__debezium.oldkey") == oldKey)
        #expect(created.envelope["before"] is NSNull)
        #expect((created.envelope["after"] as? [String: Any])?["userId"] as? Int == id + 1000)
        #expect((created.envelope["after"] as? [String: Any])?["lastName"] as? String == "King")
    }

    @Test("snapshot rows: ce_snapshot / snapshot true through the SDK, Debezium op r with snapshot \"true\"",
          .enabled(if: hasSDK, "python3 cannot import cloudevents.kafka: run scripts/test.sh (it installs cloudevents) or pip install cloudevents"),
          arguments: ["cloudevents", "cloudevents-structured", "debezium", "debezium/full"])
    func snapshotRows(argument: String) throws {
        let format = String(argument.prefix { $0 != "/" })
        let replicaIdentityFull = argument.hasSuffix("/full")
        let setup = try BridgeTestSetup(publish: !replicaIdentityFull)
        if replicaIdentityFull {
            try setup.database.sql("ALTER TABLE users REPLICA IDENTITY FULL; CREATE PUBLICATION walbridge FOR TABLE users;")
        }
        try setup.database.sql("""
            INSERT INTO users (username, first_name, last_name, email, password_hash)
            SELECT 'snap' || g, 'First' || g, 'Last', 'snap' || g || '@example.com', 'secret-hash'
            FROM generate_series(1, 3) g
            """)
        var options = BridgeTestSetup.testOptions()
        options.snapshot = SnapshotRequest(tables: [], filter: nil)
        let bridge = RunningBridge(configuration: try setup.configuration(mappingExtra: "    format: \(format)\n    snapshot: {event: UserSnapshotted}"),
                                   options: options)
        #expect(try bridge.wait(timeout: .seconds(60)) == nil)
        let events = try setup.collector().collectAll()
        try #require(events.count == 3, "one record per row, no more")
        switch format {
        case "debezium":
            for event in events {
                try Self.expectDebeziumEnvelope(event, snapshot: "true")
                #expect(event.envelope["op"] as? String == "r")
                #expect(event.envelope["before"] is NSNull)
                #expect((event.envelope["source"] as? [String: Any])?["snapshot"] as? String == "true")
                #expect((event.envelope["after"] as? [String: Any])?["lastName"] as? String == "Last")
            }
        default:
            let parsed = try Self.parse(events, mode: format == "cloudevents" ? "binary" : "structured")
            for (event, record) in zip(parsed, events) {
                #expect(event.attributes["type"] == "UserSnapshotted")
                #expect(event.attributes["snapshot"].map { $0.lowercased() } == "true")
                #expect(event.attributes["subject"] == record.key)
                #expect(event.data["lastName"] as? String == "Last")
            }
        }
    }
}
