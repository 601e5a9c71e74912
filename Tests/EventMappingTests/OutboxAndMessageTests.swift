@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Outbox and logical-message mappings")
struct OutboxAndMessageTests {
    static let yaml = """
    postgres: {url: "postgres://localhost/app"}
    kafka: {bootstrap_servers: "k:9092"}
    mappings:
      - kind: outbox
        table: app.outbox
        topic: events.{aggregate_type}
        schema_version: 2
      - kind: message
        prefix: walbridge
        topic: app.messages
        event: MessageReceived
    """

    static let outboxRelation = Relation(id: 9, schema: "app", name: "outbox", replicaIdentity: .default, columns: [
        .init(name: "id", typeOID: 2950, typeModifier: -1, isKey: true),
        .init(name: "aggregatetype", typeOID: 25, typeModifier: -1, isKey: false),
        .init(name: "aggregateid", typeOID: 25, typeModifier: -1, isKey: false),
        .init(name: "type", typeOID: 25, typeModifier: -1, isKey: false),
        .init(name: "payload", typeOID: 3802, typeModifier: -1, isKey: false),
    ])

    func outboxChange(_ operation: RowChange.Operation = .insert, type: String = "OrderPlaced", payload: PostgresValue) -> RowChange {
        let row: Row = [.value(.string("u-1")), .value(.string("Order")), .value(.string("o-77")), .value(.string(type)), .value(payload)]
        return RowChange(operation: operation, relation: Self.outboxRelation, new: operation == .delete ? nil : row,
                         old: operation == .delete ? row : nil, oldKind: operation == .delete ? .key : nil, ordinal: 1)
    }

    @Test func outboxInsertBecomesOneEvent() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        let records = try mapper.map(outboxChange(payload: .json(#"{"total": 12.5}"#)), transaction: Fixtures.transaction)
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.topic == "events.Order")
        #expect(Fixtures.text(record.key) == "o-77")
        #expect(record.eventType == "OrderPlaced")
        #expect(record.header("schema-version") == Array("2".utf8))
        #expect(Fixtures.text(record.value) == """
        {"eventId":"\(record.eventID)","eventType":"OrderPlaced","schemaVersion":2,"occurredAt":"2026-11-23T05:12:00.123456Z",\
        "source":{"database":"auth","schema":"app","table":"outbox","lsn":"0/16B3748","txId":1234},"data":{"total": 12.5}}
        """)
        #expect(record.eventID == eventID(systemID: Fixtures.systemID, database: "auth", commitLSN: Fixtures.transaction.commitLSN, ordinal: 1))
    }

    @Test func outboxUpdatesAndDeletesPublishNothing() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        #expect(try mapper.map(outboxChange(.update, payload: .json("{}")), transaction: Fixtures.transaction).isEmpty)
        #expect(try mapper.map(outboxChange(.delete, payload: .json("{}")), transaction: Fixtures.transaction).isEmpty)
    }

    @Test func outboxPayloadMustBeJSON() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        #expect(try mapper.map(outboxChange(payload: .string(#"[1,2]"#)), transaction: Fixtures.transaction).count == 1)
        #expect(throws: MappingError.self) {
            try mapper.map(outboxChange(payload: .string("not json SECRET")), transaction: Fixtures.transaction)
        }
        #expect(throws: MappingError.self) {
            try mapper.map(outboxChange(type: "", payload: .json("{}")), transaction: Fixtures.transaction)
        }
        do {
            _ = try mapper.map(outboxChange(payload: .string("not json SECRET")), transaction: Fixtures.transaction)
        } catch {
            #expect(!error.description.contains("SECRET"))
        }
    }

    @Test func outboxAggregateTypeMustMakeAValidTopic() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        var change = outboxChange(payload: .json("{}"))
        change.new![1] = .value(.string("Order Lines/x"))
        #expect(throws: MappingError.self) { try mapper.map(change, transaction: Fixtures.transaction) }
    }

    @Test func transactionalMessage() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        let message = LogicalMessage(transactional: true, lsn: LSN(0x16B3700), prefix: "walbridge", content: Array(#"{"hello":"world"}"#.utf8))
        let record = try #require(try mapper.map(message, transactionOrdinal: 0, transaction: Fixtures.transaction).first)
        #expect(record.eventID == "1de68f88-d465-5cee-9fb5-bc6de7340298")
        #expect(record.topic == "app.messages")
        #expect(record.key == nil)
        #expect(Fixtures.text(record.value) == """
        {"eventId":"1de68f88-d465-5cee-9fb5-bc6de7340298","eventType":"MessageReceived","schemaVersion":1,\
        "occurredAt":"2026-11-23T05:12:00.123456Z","source":{"database":"auth","prefix":"walbridge","lsn":"0/16B3748","txId":1234},\
        "data":{"hello":"world"}}
        """)
    }

    @Test func nonTransactionalMessage() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        let message = LogicalMessage(transactional: false, lsn: LSN(0x16B3748), prefix: "walbridge", content: Array("42".utf8))
        let record = try #require(try mapper.map(message, transactionOrdinal: nil, transaction: nil, sentAtMicros: 0).first)
        #expect(record.eventID == "2be71a52-9389-5398-8caa-6d6523d26b43")
        #expect(Fixtures.text(record.value)!.hasSuffix(#""source":{"database":"auth","prefix":"walbridge","lsn":"0/16B3748"},"data":42}"#))
    }

    @Test func otherPrefixesAndBadContent() throws {
        let mapper = try Fixtures.mapper(Self.yaml)
        let other = LogicalMessage(transactional: true, lsn: .zero, prefix: "other", content: Array("{}".utf8))
        #expect(try mapper.map(other, transactionOrdinal: 0, transaction: Fixtures.transaction).isEmpty)
        let bad = LogicalMessage(transactional: true, lsn: .zero, prefix: "walbridge", content: Array("{oops".utf8))
        #expect(throws: MappingError(table: nil, operation: "message", reason: .invalidMessageContent(prefix: "walbridge"))) {
            try mapper.map(bad, transactionOrdinal: 0, transaction: Fixtures.transaction)
        }
    }

    @Test func outboxConfigurationChecks() throws {
        let duplicateColumns = Self.yaml.replacingOccurrences(of: "    schema_version: 2", with: "    outbox: {payload: type}")
        #expect(Fixtures.error(duplicateColumns)?.keyPath == "mappings[0].outbox")
        let badTopic = Self.yaml.replacingOccurrences(of: "events.{aggregate_type}", with: "events.{aggregate}")
        #expect(Fixtures.error(badTopic)?.keyPath == "mappings[0].topic")
        let fieldsInOutbox = Self.yaml.replacingOccurrences(of: "    schema_version: 2", with: "    fields: {a: b}")
        #expect(Fixtures.error(fieldsInOutbox)?.description.contains("does not apply to a mapping of kind outbox") == true)
        let noEvent = Self.yaml.replacingOccurrences(of: "    event: MessageReceived", with: "")
        #expect(Fixtures.error(noEvent)?.keyPath == "mappings[1].event")
    }
}
