import Foundation
import PostgresReplication

extension EventMapper {
    /// Maps a logical-decoding message (`pg_logical_emit_message`) whose
    /// prefix a `kind: message` mapping names; `[]` for any other prefix.
    ///
    /// The event's `data` is the message content, which must be JSON. Its id
    /// is named `…/<commit LSN>/m<k>` for the k-th (0-based) transactional
    /// message of a transaction, `…/<message LSN>/m` for a non-transactional one.
    /// `source` holds `database`, `prefix`, `lsn` and, for a transactional
    /// message, `txId`. The record has no Kafka key.
    ///
    /// - Parameters:
    ///   - transactionOrdinal: the message's position among its transaction's
    ///     messages; nil for a non-transactional message.
    ///   - transaction: the enclosing transaction; nil for a non-transactional message.
    ///   - sentAtMicros: Unix microseconds to use as `occurredAt` when there is
    ///     no transaction (the walsender's send time of the message).
    public func map(
        _ message: LogicalMessage, transactionOrdinal: Int?, transaction: TransactionInfo?, sentAtMicros: Int64 = 0
    ) throws(MappingError) -> [EventRecord] {
        guard let mapping = messages[message.prefix] else { return [] }
        guard Self.isJSON(message.content) else {
            throw MappingError(table: nil, operation: "message", reason: .invalidMessageContent(prefix: message.prefix))
        }
        let inTransaction = transaction.flatMap { info in transactionOrdinal.map { (info, $0) } }
        let lsn = inTransaction?.0.commitLSN ?? message.lsn
        let id = messageEventID(systemID: systemID, database: database, lsn: lsn, messageIndex: inTransaction?.1)

        var writer = JSONWriter(capacity: 256 + message.content.count)
        writer.raw(EnvelopeParts.eventIDStart)
        writer.raw(id)
        writer.raw(EnvelopeParts.typeAndVersion(type: mapping.eventType, version: mapping.schemaVersion))
        writer.rfc3339(unixMicros: inTransaction?.0.commitTimeMicros ?? sentAtMicros)
        writer.raw("\",\"source\":{\"database\":")
        writer.string(database)
        writer.raw(",\"prefix\":")
        writer.string(message.prefix)
        writer.raw(",\"lsn\":\"")
        writer.lsn(lsn)
        writer.byte(UInt8(ascii: "\""))
        if let (info, _) = inTransaction {
            writer.raw(",\"txId\":")
            writer.unsigned(UInt64(info.xid))
        }
        writer.raw("},\"data\":")
        writer.raw(message.content)
        writer.byte(UInt8(ascii: "}"))

        let headers = [
            EventHeader(name: "event-type", value: Array(mapping.eventType.utf8)),
            EventHeader(name: "event-id", value: Array(id.utf8)),
            EventHeader(name: "schema-version", value: Array(String(mapping.schemaVersion).utf8)),
            EventHeader(name: "content-type", value: EnvelopeParts.contentType),
        ]
        return [EventRecord(topic: mapping.topic, key: nil, value: writer.bytes, headers: headers, eventID: id, eventType: mapping.eventType)]
    }

    static func isJSON(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }
}
