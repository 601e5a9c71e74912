import PostgresReplication

/// What a `TRUNCATE` turned into: the events to publish and the mapped tables
/// whose mapping says `truncate: skip` (the caller logs those, so a truncate
/// is never silent).
public struct TruncateOutcome: Sendable {
    /// One event per truncated table whose mapping names a truncate event, in
    /// the order the Truncate message lists the tables.
    public var records: [EventRecord]
    /// Mapped tables (table or outbox mappings) that were truncated without an event.
    public var skipped: [QualifiedName]

    public init(records: [EventRecord], skipped: [QualifiedName]) {
        self.records = records
        self.skipped = skipped
    }
}

extension EventMapper {
    /// Maps one pgoutput Truncate message (which may name several tables).
    ///
    /// For each table with `truncate: <EventName>` the result holds one event:
    /// `data` is `{"cascade": Bool, "restartIdentity": Bool}`, no Kafka key
    /// (a truncate concerns every key of the table), the usual headers.
    ///
    /// Event id: the Truncate message counts as one change at `ordinal`. The
    /// table listed first in the message gets the plain change name
    /// `<systemid>/<database>/<commit LSN>/<ordinal>`, exactly like any
    /// other change; the table at 0-based position `k ≥ 1` of the message
    /// gets `…/<ordinal>/<k>`. Positions count every table of the message,
    /// mapped or not, so a mapping change never changes another table's id.
    ///
    /// Tables that are not mapped are ignored; tables of outbox mappings and
    /// of mappings with `truncate: skip` are reported in `skipped`.
    public func mapTruncate(
        relations: [Relation], cascade: Bool, restartIdentity: Bool, ordinal: Int, transaction: TransactionInfo
    ) -> TruncateOutcome {
        var records: [EventRecord] = []
        var skipped: [QualifiedName] = []
        for (position, relation) in relations.enumerated() {
            let name = QualifiedName(schema: relation.schema, table: relation.name)
            switch tables[name] {
            case nil:
                continue
            case .outbox:
                skipped.append(name)
            case .table(let compiled):
                guard case .publish(let eventType) = compiled.mapping.truncate else {
                    skipped.append(name)
                    continue
                }
                let id = truncateEventID(commitLSN: transaction.commitLSN, ordinal: ordinal, position: position)
                var writer = JSONWriter(capacity: 320)
                writer.raw(EnvelopeParts.eventIDStart)
                writer.raw(id)
                writer.raw(EnvelopeParts.typeAndVersion(type: eventType, version: compiled.mapping.schemaVersion))
                writer.rfc3339(unixMicros: transaction.commitTimeMicros)
                writer.raw(compiled.sourcePrefix)
                writer.lsn(transaction.commitLSN)
                writer.raw(EnvelopeParts.txIDPart)
                writer.unsigned(UInt64(transaction.xid))
                writer.raw("},\"data\":{\"cascade\":")
                writer.raw(cascade ? JSONWriter.trueLiteral : JSONWriter.falseLiteral)
                writer.raw(",\"restartIdentity\":")
                writer.raw(restartIdentity ? JSONWriter.trueLiteral : JSONWriter.falseLiteral)
                writer.raw("}}")
                let headers = [
                    EventHeader(name: "event-type", value: Array(eventType.utf8)),
                    EventHeader(name: "event-id", value: Array(id.utf8)),
                    EventHeader(name: "schema-version", value: compiled.schemaVersionHeader),
                    EventHeader(name: "content-type", value: EnvelopeParts.contentType),
                ]
                records.append(EventRecord(topic: compiled.mapping.topic, key: nil, value: writer.bytes,
                                           headers: headers, eventID: id, eventType: eventType))
            }
        }
        return TruncateOutcome(records: records, skipped: skipped)
    }

    /// The id of the truncate event for the table at `position` of a Truncate
    /// message that is change `ordinal` of its transaction (see `mapTruncate`).
    public func truncateEventID(commitLSN: LSN, ordinal: Int, position: Int) -> String {
        guard position > 0 else { return eventID(commitLSN: commitLSN, ordinal: ordinal) }
        var name = JSONWriter(capacity: idPrefix.count + 32)
        name.raw(idPrefix)
        name.lsn(commitLSN)
        name.byte(UInt8(ascii: "/"))
        name.integer(Int64(ordinal))
        name.byte(UInt8(ascii: "/"))
        name.integer(Int64(position))
        return UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: name.bytes)
    }
}
