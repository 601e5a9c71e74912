import Configuration
import PostgresReplication

extension CompiledTableMapping {
    /// The constants of the CloudEvents and Debezium formats; nil for `walbridge`.
    struct FormatParts: Sendable {
        let format: EventFormat
        /// `source` as given or `/walbridge/<database>/<schema>.<table>`.
        let ceSource: [UInt8]
        let ceTypePrefix: String
        /// `,"source":{"version":"…","connector":"postgresql","name":"…","ts_ms":` (Debezium).
        let debeziumSourcePrefix: [UInt8]
        /// `,"db":"…","schema":"…","table":"…","txId":` (Debezium).
        let debeziumSourceMiddle: [UInt8]
        /// Built once per mapping, when the mapper is made.
        init(mapping: TableMapping, database: String) {
            format = mapping.format
            ceSource = Array((mapping.cloudEvents.source ?? "/walbridge/\(database)/\(mapping.table.schema).\(mapping.table.table)").utf8)
            ceTypePrefix = mapping.cloudEvents.typePrefix
            var prefix = JSONWriter()
            prefix.raw(",\"source\":{\"version\":")
            prefix.string(Self.debeziumVersion)
            prefix.raw(",\"connector\":\"postgresql\",\"name\":")
            prefix.string(database)
            prefix.raw(",\"ts_ms\":")
            debeziumSourcePrefix = prefix.bytes
            var middle = JSONWriter()
            middle.raw(",\"db\":")
            middle.string(database)
            middle.raw(",\"schema\":")
            middle.string(mapping.table.schema)
            middle.raw(",\"table\":")
            middle.string(mapping.table.table)
            middle.raw(",\"txId\":")
            debeziumSourceMiddle = middle.bytes
        }

        /// `source.version` of a Debezium record: the producer is WalBridge, not a Debezium release.
        static let debeziumVersion = "walbridge"
    }
}

/// Constant pieces of the CloudEvents and Debezium records.
enum FormatConstants {
    static let specVersion: [UInt8] = Array("1.0".utf8)
    static let structuredContentType: [UInt8] = Array("application/cloudevents+json".utf8)
    static let trueText: [UInt8] = Array("true".utf8)
}

extension EventMapper {
    /// A change of a mapping whose `format` is not `walbridge`: the same event
    /// decision, fields, key and id, written as CloudEvents or Debezium records.
    func mapFormattedChange(
        _ change: RowChange, compiled: CompiledTableMapping, parts: CompiledTableMapping.FormatParts,
        event: CompiledTableMapping.Event, indexes: [Int?], transaction: TransactionInfo, snapshot: SnapshotEventContext?,
        fail: (MappingError.Reason) throws(MappingError) -> Never
    ) throws(MappingError) -> [EventRecord] {
        let oldIsFull = change.oldKind == .full
        guard let slots = Self.fieldSlots(change, indexes: indexes) else {
            try fail(.missingRow(change.operation == .delete ? "old row" : "new row"))
        }
        var (data, previous) = slots
        let key = try keyBytes(compiled: compiled, slot: { data[$0] }, fail: fail)
        if let carries = event.carries {
            for position in data.indices where !carries[position] {
                data[position] = .absent
                previous?[position] = .absent
            }
        }
        let id = snapshot.map { snapshotEventID(jobID: $0.jobID, table: compiled.mapping.table, key: key) }
            ?? eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
        func object(_ slots: [FieldSlot], into writer: inout JSONWriter) {
            writer.byte(UInt8(ascii: "{"))
            if compiled.hasTransforms, let transforms = compiled.transforms {
                writeTransformedBody(&writer, count: slots.count, compiled, transforms: transforms, slot: { slots[$0] })
            } else {
                writeObjectBody(&writer, count: slots.count, compiled, slot: { slots[$0] })
            }
            writer.byte(UInt8(ascii: "}"))
        }

        var headers: [EventHeader] = []
        var value = JSONWriter(capacity: 400 + 40 * data.count)
        var recordKey = key
        switch parts.format {
        case .walbridge:
            preconditionFailure("the walbridge format is written by mapTableChange")
        case .cloudevents:
            var time = JSONWriter(capacity: 32)
            time.rfc3339(unixMicros: transaction.commitTimeMicros)
            var lsn = JSONWriter(capacity: 20)
            lsn.lsn(transaction.commitLSN)
            headers = [
                EventHeader(name: "ce_specversion", value: FormatConstants.specVersion),
                EventHeader(name: "ce_id", value: Array(id.utf8)),
                EventHeader(name: "ce_source", value: parts.ceSource),
                EventHeader(name: "ce_type", value: Array((parts.ceTypePrefix + event.eventType).utf8)),
                EventHeader(name: "ce_time", value: time.bytes),
                EventHeader(name: "ce_subject", value: key),
                EventHeader(name: "content-type", value: EnvelopeParts.contentType),
                EventHeader(name: "ce_lsn", value: lsn.bytes),
                EventHeader(name: "ce_txid", value: Array(String(transaction.xid).utf8)),
                EventHeader(name: "ce_schemaversion", value: compiled.schemaVersionHeader),
            ]
            if snapshot != nil { headers.append(EventHeader(name: "ce_snapshot", value: FormatConstants.trueText)) }
            object(data, into: &value)
        case .cloudeventsStructured:
            headers = [EventHeader(name: "content-type", value: FormatConstants.structuredContentType)]
            value.raw("{\"specversion\":\"1.0\",\"id\":\"")
            value.raw(id)
            value.raw("\",\"source\":")
            value.string(String(decoding: parts.ceSource, as: UTF8.self))
            value.raw(",\"type\":")
            value.string(parts.ceTypePrefix + event.eventType)
            value.raw(",\"time\":\"")
            value.rfc3339(unixMicros: transaction.commitTimeMicros)
            value.raw("\",\"subject\":")
            value.string(String(decoding: key, as: UTF8.self))
            value.raw(",\"datacontenttype\":\"application/json\",\"lsn\":\"")
            value.lsn(transaction.commitLSN)
            value.raw("\",\"txid\":\"")
            value.unsigned(UInt64(transaction.xid))
            value.raw("\",\"schemaversion\":")
            value.integer(Int64(compiled.mapping.schemaVersion))
            if snapshot != nil { value.raw(",\"snapshot\":true") }
            value.raw(",\"data\":")
            object(data, into: &value)
            value.byte(UInt8(ascii: "}"))
        case .debezium:
            headers = [EventHeader(name: "content-type", value: EnvelopeParts.contentType)]
            let op: String
            value.raw("{\"before\":")
            switch change.operation {
            case .insert:
                op = snapshot == nil ? "c" : "r"
                value.raw("null,\"after\":")
                object(data, into: &value)
            case .update:
                op = "u"
                // Debezium: the full old row with REPLICA IDENTITY FULL, else null.
                if oldIsFull, let previous { object(previous, into: &value) } else { value.raw("null") }
                value.raw(",\"after\":")
                object(data, into: &value)
            case .delete:
                op = "d"
                // `data` holds the old row: all of it with FULL, the key columns otherwise.
                object(data, into: &value)
                value.raw(",\"after\":null")
            }
            let millis = transaction.commitTimeMicros / 1000
            value.raw(parts.debeziumSourcePrefix)
            value.integer(millis)
            value.raw(snapshot == nil ? ",\"snapshot\":\"false\"" : ",\"snapshot\":\"true\"")
            value.raw(parts.debeziumSourceMiddle)
            value.unsigned(UInt64(transaction.xid))
            value.raw(",\"lsn\":")
            value.unsigned(transaction.commitLSN.value)
            value.raw("},\"op\":\"")
            value.raw(op)
            value.raw("\",\"ts_ms\":")
            value.integer(millis)
            value.byte(UInt8(ascii: "}"))
            // Debezium's key: an object of the key fields, also for a one-column key.
            var keyWriter = JSONWriter(capacity: 48)
            keyWriter.byte(UInt8(ascii: "{"))
            for (index, position) in compiled.keyPositions.enumerated() {
                if index > 0 { keyWriter.byte(UInt8(ascii: ",")) }
                keyWriter.raw(compiled.fieldKeys[position])
                keyWriter.value(data[position].known!)
            }
            keyWriter.byte(UInt8(ascii: "}"))
            recordKey = keyWriter.bytes
        }
        let record = EventRecord(topic: compiled.mapping.topic, key: recordKey, value: value.bytes, headers: headers,
                                 eventID: id, eventType: event.eventType)
        if change.operation == .delete && compiled.mapping.tombstones {
            return [record, EventRecord(topic: record.topic, key: recordKey, value: nil, headers: [], eventID: id, eventType: event.eventType)]
        }
        return [record]
    }
}
