import Configuration
import Foundation
import PostgresReplication

extension EventMapper {
    /// An inserted outbox row → one event: type from the type column, key from
    /// the aggregate id, `data` = the payload JSON. Updates and deletes → nothing.
    func mapOutboxChange(_ change: RowChange, mapping: OutboxMapping, transaction: TransactionInfo) throws(MappingError) -> [EventRecord] {
        guard change.operation == .insert else { return [] }
        let table = mapping.table
        func fail(_ reason: MappingError.Reason) -> MappingError {
            MappingError(table: table, operation: "insert", reason: reason)
        }
        let columns = mapping.columns
        let names = [columns.aggregateType, columns.aggregateID, columns.eventType, columns.payload]
        let indexes = try Self.columnIndexes(of: names, in: change.relation) { column throws(MappingError) in
            throw fail(.missingColumn(column))
        }
        guard let new = change.new else { throw fail(.missingRow("new row")) }
        guard new.count == change.relation.columns.count else {
            throw fail(.rowShape(expected: change.relation.columns.count, actual: new.count))
        }
        func value(_ position: Int) throws(MappingError) -> PostgresValue {
            guard case .value(let value) = new[indexes[position]] else {
                throw fail(.invalidOutboxValue(column: names[position], problem: "the value is not in the change (unchanged TOAST)"))
            }
            return value
        }
        func text(_ position: Int) throws(MappingError) -> String {
            switch try value(position) {
            case .string(let text) where !text.isEmpty: return text
            case .null: throw fail(.invalidOutboxValue(column: names[position], problem: "is NULL; it must hold a non-empty text"))
            default: throw fail(.invalidOutboxValue(column: names[position], problem: "must be a non-empty text column"))
            }
        }

        let aggregateType = try text(0)
        let eventType = try text(2)
        let aggregateID = try value(1)
        if aggregateID == .null { throw fail(.nullKey(column: names[1])) }
        var keyWriter = JSONWriter(capacity: 40)
        keyWriter.keyText(aggregateID)

        let topic = mapping.topic(forAggregateType: aggregateType)
        if KafkaTopicName.problem(topic) != nil {
            throw fail(.invalidTopic(problem: "the aggregate type must contain only letters, digits, '.', '_' and '-' to be part of a topic name"))
        }

        let id = eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
        var writer = JSONWriter(capacity: 512)
        writer.raw(EnvelopeParts.eventIDStart)
        writer.raw(id)
        writer.raw(EnvelopeParts.typeAndVersion(type: eventType, version: mapping.schemaVersion))
        writer.rfc3339(unixMicros: transaction.commitTimeMicros)
        writer.raw("\",\"source\":{\"database\":")
        writer.string(database)
        writer.raw(",\"schema\":")
        writer.string(table.schema)
        writer.raw(",\"table\":")
        writer.string(table.table)
        writer.raw(",\"lsn\":\"")
        writer.lsn(transaction.commitLSN)
        writer.raw(EnvelopeParts.txIDPart)
        writer.unsigned(UInt64(transaction.xid))
        writer.raw("},\"data\":")
        switch try value(3) {
        case .json(let json):
            writer.raw(json)
        case .null:
            writer.raw("null")
        case .string(let text) where Self.isJSON(text):
            writer.raw(text)
        default:
            throw fail(.invalidOutboxValue(column: names[3], problem: "must hold JSON (a json or jsonb column, or text that is valid JSON)"))
        }
        writer.byte(UInt8(ascii: "}"))

        let headers = [
            EventHeader(name: "event-type", value: Array(eventType.utf8)),
            EventHeader(name: "event-id", value: Array(id.utf8)),
            EventHeader(name: "schema-version", value: Array(String(mapping.schemaVersion).utf8)),
            EventHeader(name: "content-type", value: EnvelopeParts.contentType),
        ]
        return [EventRecord(topic: topic, key: keyWriter.bytes, value: writer.bytes, headers: headers, eventID: id, eventType: eventType)]
    }

    static func isJSON(_ text: String) -> Bool {
        isJSON(Array(text.utf8))
    }
}
