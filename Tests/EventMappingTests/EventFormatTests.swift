@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Event formats: cloudevents, cloudevents-structured, debezium")
struct EventFormatTests {
    static func mapper(format: String, extra: String = "") throws -> EventMapper {
        let yaml = Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    format: \(format)\n" + extra)
        return try Fixtures.mapper(yaml)
    }

    static let ada2: Row = [
        .value(.int(42)), .value(.string("ada")), .value(.string("$argon2id$SECRET")),
        .value(.string("Ada")), .value(.string("King")), .value(.string("ada@example.com")),
    ]
    static let keyOnlyOld: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]

    static func insert() -> RowChange {
        RowChange(operation: .insert, relation: Fixtures.usersRelation(), new: Fixtures.adaRow, old: nil, oldKind: nil, ordinal: 0)
    }
    static func update(full: Bool) -> RowChange {
        RowChange(operation: .update, relation: Fixtures.usersRelation(identity: full ? .full : .default), new: ada2,
                  old: full ? Fixtures.adaRow : nil, oldKind: full ? .full : nil, ordinal: 1)
    }
    static func delete(full: Bool) -> RowChange {
        RowChange(operation: .delete, relation: Fixtures.usersRelation(identity: full ? .full : .default),
                  new: nil, old: full ? Fixtures.adaRow : keyOnlyOld, oldKind: full ? .full : .key, ordinal: 2)
    }

    static func one(_ mapper: EventMapper, _ change: RowChange) throws -> EventRecord {
        let records = try mapper.map(change, transaction: Fixtures.transaction)
        try #require(records.count == 1)
        return records[0]
    }
    static func json(_ bytes: [UInt8]?) throws -> [String: Any] {
        let bytes = try #require(bytes)
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        return try #require(object as? [String: Any])
    }
    static func header(_ record: EventRecord, _ name: String) -> String? { Fixtures.text(record.header(name)) }
    /// The same change in the default format, for the attributes both carry.
    static func envelope(_ change: RowChange) throws -> [String: Any] {
        try json(one(try Fixtures.mapper(), change).value)
    }

    static let ada: [String: String] = ["username": "ada", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"]

    static func expectAda(_ data: [String: Any]?, lastName: String = "Lovelace") {
        #expect(data?["userId"] as? Int == 42)
        #expect(data?["username"] as? String == "ada")
        #expect(data?["lastName"] as? String == lastName)
        #expect(data?["email"] as? String == "ada@example.com")
        #expect(data?["password_hash"] == nil)
        #expect(data?.count == 5)
    }

    @Test func defaultFormatUnchanged() throws {
        let mapping = try #require(try Fixtures.configuration().mappings.first)
        guard case .table(let table) = mapping else { Issue.record("not a table mapping"); return }
        #expect(table.format == .walbridge)
        let record = try Self.one(try Fixtures.mapper(), Self.insert())
        #expect(Self.header(record, "event-type") == "UserRegistered")
        #expect(record.header("ce_id") == nil)
    }

    @Test func kafkaFormatIsTheDefaultAndTheMappingWins() throws {
        let all = Fixtures.designYAML(replacing: "  dead_letter_topic: null", with: "  dead_letter_topic: null\n  format: debezium")
        guard case .table(let table) = try #require(try Fixtures.configuration(all).mappings.first) else { return }
        #expect(table.format == .debezium)
        let own = all.replacingOccurrences(of: "    key: [id]\n", with: "    key: [id]\n    format: cloudevents-structured\n")
        guard case .table(let table2) = try #require(try Fixtures.configuration(own).mappings.first) else { return }
        #expect(table2.format == .cloudeventsStructured)
        let wrong = Fixtures.error(Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    format: cloudevent\n"))
        #expect(wrong?.description.contains("did you mean 'cloudevents'") == true)
        let stray = Fixtures.error(Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    cloudevents: {source: /auth}\n"))
        #expect(stray?.description.contains("cloudevents settings apply to the cloudevents formats") == true)
        #expect(stray?.keyPath == "mappings[0].cloudevents")
    }

    @Test func cloudEventsBinaryInsertUpdateDelete() throws {
        let mapper = try Self.mapper(format: "cloudevents")
        let insert = try Self.one(mapper, Self.insert())
        let envelope = try Self.envelope(Self.insert())
        #expect(Self.header(insert, "ce_specversion") == "1.0")
        #expect(Self.header(insert, "ce_id") == envelope["eventId"] as? String)
        #expect(Self.header(insert, "ce_source") == "/walbridge/auth/public.users")
        #expect(Self.header(insert, "ce_type") == "UserRegistered")
        #expect(Self.header(insert, "ce_time") == envelope["occurredAt"] as? String)
        #expect(Self.header(insert, "ce_subject") == "42")
        #expect(Self.header(insert, "content-type") == "application/json")
        #expect(Self.header(insert, "ce_lsn") == "0/16B3748")
        #expect(Self.header(insert, "ce_txid") == "1234")
        #expect(Self.header(insert, "ce_schemaversion") == "1")
        #expect(insert.header("ce_snapshot") == nil)
        #expect(Fixtures.text(insert.key) == "42")
        Self.expectAda(try Self.json(insert.value))

        let update = try Self.one(mapper, Self.update(full: false))
        #expect(Self.header(update, "ce_type") == "UserUpdated")
        Self.expectAda(try Self.json(update.value), lastName: "King")

        let delete = try Self.one(mapper, Self.delete(full: false))
        #expect(Self.header(delete, "ce_type") == "UserDeleted")
        #expect(try Self.json(delete.value) as NSDictionary == ["userId": 42] as NSDictionary)
    }

    @Test func cloudEventsSourceAndTypePrefix() throws {
        let mapper = try Self.mapper(format: "cloudevents", extra: "    cloudevents: {source: /auth/users, type_prefix: com.example.auth.}\n")
        let record = try Self.one(mapper, Self.insert())
        #expect(Self.header(record, "ce_source") == "/auth/users")
        #expect(Self.header(record, "ce_type") == "com.example.auth.UserRegistered")
        let structuredMapper = try Self.mapper(format: "cloudevents-structured", extra: "    cloudevents: {type_prefix: com.example.auth.}\n")
        let structured = try Self.json(try Self.one(structuredMapper, Self.insert()).value)
        #expect(structured["type"] as? String == "com.example.auth.UserRegistered")
        #expect(structured["source"] as? String == "/walbridge/auth/public.users")
    }

    @Test func cloudEventsStructured() throws {
        let mapper = try Self.mapper(format: "cloudevents-structured")
        let record = try Self.one(mapper, Self.update(full: true))
        #expect(Self.header(record, "content-type") == "application/cloudevents+json")
        let event = try Self.json(record.value)
        let envelope = try Self.envelope(Self.update(full: true))
        #expect(event["specversion"] as? String == "1.0")
        #expect(event["id"] as? String == envelope["eventId"] as? String)
        #expect(event["type"] as? String == "UserUpdated")
        #expect(event["time"] as? String == envelope["occurredAt"] as? String)
        #expect(event["subject"] as? String == "42")
        #expect(event["datacontenttype"] as? String == "application/json")
        #expect(event["lsn"] as? String == "0/16B3748")
        #expect(event["txid"] as? String == "1234")
        #expect(event["schemaversion"] as? Int == 1)
        #expect(event["snapshot"] == nil)
        Self.expectAda(event["data"] as? [String: Any], lastName: "King")
        #expect(Set(event.keys) == ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "lsn", "txid", "schemaversion", "data"])
    }

    static let context = SnapshotEventContext(jobID: "job-1", transaction: Fixtures.transaction)

    @Test func snapshotRows() throws {
        let binary = try #require(try Self.mapper(format: "cloudevents").mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: Self.context))
        #expect(Self.header(binary, "ce_snapshot") == "true")
        let walbridge = try #require(try Fixtures.mapper().mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: Self.context))
        #expect(Self.header(binary, "ce_id") == walbridge.eventID)
        let structured = try #require(try Self.mapper(format: "cloudevents-structured").mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: Self.context))
        #expect(try Self.json(structured.value)["snapshot"] as? Bool == true)
        let debezium = try #require(try Self.mapper(format: "debezium").mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: Self.context))
        let value = try Self.json(debezium.value)
        #expect(value["op"] as? String == "r")
        #expect(value["before"] is NSNull)
        Self.expectAda(value["after"] as? [String: Any])
        #expect((value["source"] as? [String: Any])?["snapshot"] as? String == "true")
    }

    /// Debezium's PostgreSQL value (JSON converter, `schemas.enable=false`): before, after,
    /// source {version, connector, name, ts_ms, ts_us, ts_ns, snapshot, db, sequence, schema, table, txId, lsn, xmin},
    /// op, ts_ms, ts_us, ts_ns, transaction (see DebeziumDocumentedExamplesTests).
    static func expectDebeziumShape(_ value: [String: Any], op: String) {
        #expect(Set(value.keys) == ["before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"])
        #expect(value["op"] as? String == op)
        #expect(value["ts_ms"] as? Int64 == 1_795_410_720_123)
        let source = value["source"] as? [String: Any]
        #expect(Set(source?.keys.map { $0 } ?? []) == ["version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence",
                                                        "schema", "table", "txId", "lsn", "xmin"])
        #expect(source?["connector"] as? String == "postgresql")
        #expect(source?["version"] is String)
        #expect(source?["name"] as? String == "auth")
        #expect(source?["db"] as? String == "auth")
        #expect(source?["schema"] as? String == "public")
        #expect(source?["table"] as? String == "users")
        #expect(source?["ts_ms"] as? Int64 == 1_795_410_720_123)
        #expect(source?["txId"] as? Int == 1234)
        #expect(source?["lsn"] as? Int == 0x16B3748)
        #expect(source?["snapshot"] as? String == (op == "r" ? "true" : "false"))
    }

    @Test func debeziumInsertUpdateDelete() throws {
        let mapper = try Self.mapper(format: "debezium")
        let insert = try Self.one(mapper, Self.insert())
        #expect(Fixtures.text(insert.key) == #"{"userId":42}"#)
        let created = try Self.json(insert.value)
        Self.expectDebeziumShape(created, op: "c")
        #expect(created["before"] is NSNull)
        Self.expectAda(created["after"] as? [String: Any])

        // REPLICA IDENTITY DEFAULT: before is null on update, the key only on delete.
        let updated = try Self.json(try Self.one(mapper, Self.update(full: false)).value)
        Self.expectDebeziumShape(updated, op: "u")
        #expect(updated["before"] is NSNull)
        Self.expectAda(updated["after"] as? [String: Any], lastName: "King")
        let deleted = try Self.json(try Self.one(mapper, Self.delete(full: false)).value)
        Self.expectDebeziumShape(deleted, op: "d")
        #expect(deleted["before"] as? NSDictionary == ["userId": 42] as NSDictionary)
        #expect(deleted["after"] is NSNull)

        // REPLICA IDENTITY FULL: the whole old row.
        let updatedFull = try Self.json(try Self.one(mapper, Self.update(full: true)).value)
        Self.expectAda(updatedFull["before"] as? [String: Any])
        Self.expectAda(updatedFull["after"] as? [String: Any], lastName: "King")
        let deletedFull = try Self.json(try Self.one(mapper, Self.delete(full: true)).value)
        Self.expectAda(deletedFull["before"] as? [String: Any])
        #expect(deletedFull["after"] is NSNull)
    }

    @Test func debeziumTombstoneUnderTheSameKey() throws {
        let yaml = Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    format: debezium\n    tombstones: true\n")
        let records = try Fixtures.mapper(yaml).map(Self.delete(full: false), transaction: Fixtures.transaction)
        #expect(records.count == 2)
        #expect(records.last?.isTombstone == true)
        #expect(Fixtures.text(records.last?.key) == #"{"userId":42}"#)
    }

    @Test(arguments: ["cloudevents", "cloudevents-structured", "debezium"])
    func schemaDescribesTheFormatsValue(format: String) throws {
        let yaml = Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    format: \(format)\n")
        let schemas = try TruncateAndSchemaTests.schemas(yaml)
        #expect(schemas.map(\.eventType) == ["UserRegistered", "UserUpdated", "UserDeleted"])
        let mapper = try Fixtures.mapper(yaml)
        let changes = [Self.insert(), Self.update(full: true), Self.delete(full: false)]
        for (schema, change) in zip(schemas, changes) {
            let value = try Self.json(try Self.one(mapper, change).value)
            #expect(JSONSchemaCheck.errors(value, against: schema.schema).isEmpty, "\(format) \(schema.eventType): \(JSONSchemaCheck.errors(value, against: schema.schema))")
            // The default envelope is not this format's value.
            let envelope = try Self.envelope(change)
            #expect(!JSONSchemaCheck.errors(envelope, against: schema.schema).isEmpty)
        }
    }
}
