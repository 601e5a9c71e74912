import Configuration
import EventMapping
import Foundation
import KafkaPublisher
import PostgresReplication

/// Builds the dead-letter records of docs/delivery.md ("The promises": never skip, never stall on one bad row): a permanent failure
/// of one record sends what can be sent of it to `kafka.dead_letter_topic`
/// with the same key, headers `walbridge-error` (the reason) and
/// `walbridge-source-topic`, and the stream goes on.
///
/// Only allowlisted (mapped) columns ever appear in a dead-letter record: a row
/// the mapping cannot turn into an event is written with its mapped columns only,
/// so an excluded column such as `password_hash` never leaves through this path either.
struct DeadLetters {
    let topic: String
    let database: String

    /// The event itself, which the broker refused for a reason other than its size.
    func record(forRejectedEvent record: FailedRecord, reason: String) -> EventRecord {
        EventRecord(
            topic: topic, key: record.key, value: record.value,
            headers: headers(reason: reason, sourceTopic: record.topic), eventID: "", eventType: "")
    }

    /// An event too large for Kafka: its envelope without `data` (and without
    /// `previous`), plus `"error"`.
    func record(forOversizedEvent value: [UInt8]?, key: [UInt8]?, sourceTopic: String, reason: String) -> EventRecord {
        var writer = JSONWriter()
        writer.byte(UInt8(ascii: "{"))
        var first = true
        if let value, let envelope = (try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any] {
            for name in ["eventId", "eventType", "schemaVersion", "occurredAt", "source"] {
                guard let field = envelope[name],
                      let data = try? JSONSerialization.data(withJSONObject: field, options: [.fragmentsAllowed, .sortedKeys])
                else { continue }
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                writer.key(name)
                writer.raw(Array(data))
            }
        }
        if !first { writer.byte(UInt8(ascii: ",")) }
        writer.key("error")
        writer.string(reason)
        writer.byte(UInt8(ascii: "}"))
        return EventRecord(
            topic: topic, key: key, value: writer.bytes,
            headers: headers(reason: reason, sourceTopic: sourceTopic), eventID: "", eventType: "")
    }

    /// A change the mapping could not turn into an event: the raw row as JSON
    /// (mapped columns only, under their column names), with where it came from.
    func record(
        forUnmappableChange change: RowChange, transaction: TransactionInfo, eventID: String,
        mappedColumns: Set<String>, sourceTopic: String, reason: String
    ) -> EventRecord {
        var writer = JSONWriter()
        writer.byte(UInt8(ascii: "{"))
        writer.key("eventId"); writer.string(eventID)
        writer.byte(UInt8(ascii: ",")); writer.key("operation"); writer.string("\(change.operation)")
        writer.byte(UInt8(ascii: ",")); writer.key("occurredAt"); occurredAt(&writer, transaction)
        writer.byte(UInt8(ascii: ","))
        source(&writer, schema: change.relation.schema, table: change.relation.name, transaction: transaction)
        for (name, row) in [("new", change.new), ("old", change.old)] {
            guard let row else { continue }
            writer.byte(UInt8(ascii: ",")); writer.key(name)
            writer.byte(UInt8(ascii: "{"))
            var first = true
            for (column, value) in zip(change.relation.columns, row) where mappedColumns.contains(column.name) {
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                writer.key(column.name)
                switch value {
                case .value(let value): writer.value(value)
                case .unchangedToast: writer.string("(unchanged TOAST value, not sent by Postgres)")
                }
            }
            writer.byte(UInt8(ascii: "}"))
        }
        writer.byte(UInt8(ascii: ",")); writer.key("error"); writer.string(reason)
        writer.byte(UInt8(ascii: "}"))
        return EventRecord(
            topic: topic, key: nil, value: writer.bytes,
            headers: headers(reason: reason, sourceTopic: sourceTopic), eventID: eventID, eventType: "")
    }

    /// A change whose values could not even be decoded: where it came from and why.
    func record(forUndecodableChange relation: Relation?, transaction: TransactionInfo, eventID: String, sourceTopic: String, reason: String) -> EventRecord {
        var writer = JSONWriter()
        writer.byte(UInt8(ascii: "{"))
        writer.key("eventId"); writer.string(eventID)
        writer.byte(UInt8(ascii: ",")); writer.key("occurredAt"); occurredAt(&writer, transaction)
        writer.byte(UInt8(ascii: ","))
        source(&writer, schema: relation?.schema ?? "", table: relation?.name ?? "", transaction: transaction)
        writer.byte(UInt8(ascii: ",")); writer.key("error"); writer.string(reason)
        writer.byte(UInt8(ascii: "}"))
        return EventRecord(
            topic: topic, key: nil, value: writer.bytes,
            headers: headers(reason: reason, sourceTopic: sourceTopic), eventID: eventID, eventType: "")
    }

    private func occurredAt(_ writer: inout JSONWriter, _ transaction: TransactionInfo) {
        writer.byte(UInt8(ascii: "\""))
        writer.rfc3339(unixMicros: transaction.commitTimeMicros)
        writer.byte(UInt8(ascii: "\""))
    }

    private func source(_ writer: inout JSONWriter, schema: String, table: String, transaction: TransactionInfo) {
        writer.key("source")
        writer.byte(UInt8(ascii: "{"))
        writer.key("database"); writer.string(database)
        writer.byte(UInt8(ascii: ",")); writer.key("schema"); writer.string(schema)
        writer.byte(UInt8(ascii: ",")); writer.key("table"); writer.string(table)
        writer.byte(UInt8(ascii: ",")); writer.key("lsn"); writer.string("\(transaction.commitLSN)")
        writer.byte(UInt8(ascii: ",")); writer.key("txId"); writer.unsigned(UInt64(transaction.xid))
        writer.byte(UInt8(ascii: "}"))
    }

    private func headers(reason: String, sourceTopic: String) -> [EventHeader] {
        [
            EventHeader(name: "walbridge-error", value: Array(reason.utf8)),
            EventHeader(name: "walbridge-source-topic", value: Array(sourceTopic.utf8)),
            EventHeader(name: "content-type", value: Array("application/json".utf8)),
        ]
    }
}

extension DeadLetters {
    /// A dead letter to produce, with the event id and reason for the log.
    struct Letter {
        var record: EventRecord
        var eventID: String
        var reason: String
    }

    /// A change the mapping refused: its mapped columns as JSON.
    func unmappableChange(_ change: RowChange, transaction: TransactionInfo, error: MappingError, mapper: EventMapper) -> Letter {
        let (columns, sourceTopic) = Self.allowlist(of: mapper.mapping(forSchema: change.relation.schema, table: change.relation.name))
        let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
        return Letter(
            record: record(forUnmappableChange: change, transaction: transaction, eventID: eventID,
                           mappedColumns: columns, sourceTopic: sourceTopic, reason: error.description),
            eventID: eventID, reason: error.description)
    }

    /// A change whose values could not be decoded; nil for a table that is not
    /// mapped (nothing would have been published).
    func undecodableChange(_ error: TransactionAssemblerError, transaction: TransactionInfo, ordinal: Int, mapper: EventMapper) -> Letter? {
        guard let mapping = error.relation.flatMap({ mapper.mapping(forSchema: $0.schema, table: $0.name) }) else { return nil }
        let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
        return Letter(
            record: record(forUndecodableChange: error.relation, transaction: transaction, eventID: eventID,
                           sourceTopic: Self.allowlist(of: mapping).topic, reason: error.description),
            eventID: eventID, reason: error.description)
    }

    /// The rows of a backfill chunk that could not become events, numbered
    /// after each other within the chunk's transaction.
    func snapshotRows(_ outcome: SnapshotCoordinator.ChunkOutcome, relation: Relation, transaction: TransactionInfo, mapper: EventMapper) -> [Letter] {
        let (columns, sourceTopic) = Self.allowlist(of: mapper.mapping(forSchema: relation.schema, table: relation.name))
        var letters: [Letter] = []
        var ordinal = 0
        for (change, error) in outcome.unmappable {
            let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
            ordinal += 1
            letters.append(Letter(
                record: record(forUnmappableChange: change, transaction: transaction, eventID: eventID,
                               mappedColumns: columns, sourceTopic: sourceTopic, reason: "snapshot: \(error.description)"),
                eventID: eventID, reason: error.description))
        }
        for (key, reason) in outcome.undecodable {
            let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
            ordinal += 1
            let text = "snapshot row with key (\(key)): \(reason)"
            letters.append(Letter(
                record: record(forUndecodableChange: relation, transaction: transaction, eventID: eventID, sourceTopic: sourceTopic, reason: text),
                eventID: eventID, reason: text))
        }
        return letters
    }

    /// The columns a mapping publishes, and its topic.
    static func allowlist(of mapping: Mapping?) -> (columns: Set<String>, topic: String) {
        switch mapping {
        // Transformed (hashed, masked) columns are left out: a dead letter never carries their raw value.
        case .table(let table): return (Set(table.fields.filter { $0.transform == nil }.map(\.column) + (table.key ?? [])), table.topic)
        case .outbox(let outbox):
            return ([outbox.columns.aggregateType, outbox.columns.aggregateID, outbox.columns.eventType, outbox.columns.payload], outbox.topic)
        case .message, nil: return ([], "")
        }
    }
}
