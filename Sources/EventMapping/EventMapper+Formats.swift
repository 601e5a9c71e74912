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
        /// `,"db":"…","sequence":"[null,\"` (Debezium; the LSN and `\"]"` follow).
        let debeziumSourceDatabase: [UInt8]
        /// `\"]","schema":"…","table":"…","txId":` (Debezium).
        let debeziumSourceTable: [UInt8]
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
            var databasePart = JSONWriter()
            databasePart.raw(",\"db\":")
            databasePart.string(database)
            databasePart.raw(",\"sequence\":\"[null,\\\"")
            debeziumSourceDatabase = databasePart.bytes
            var tablePart = JSONWriter()
            tablePart.raw("\\\"]\",\"schema\":")
            tablePart.string(mapping.table.schema)
            tablePart.raw(",\"table\":")
            tablePart.string(mapping.table.table)
            tablePart.raw(",\"txId\":")
            debeziumSourceTable = tablePart.bytes
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
        guard let slots = Self.fieldSlots(change, indexes: indexes) else {
            try fail(.missingRow(change.operation == .delete ? "old row" : "new row"))
        }
        var (data, previous) = slots
        let key = try keyBytes(compiled: compiled, slot: { data[$0] }, fail: fail)
        // The key fields of the new row and, when Postgres sent them, of the old
        // one (before `carries` can blank either): Debezium splits a key change.
        let newKeySlots = parts.format == .debezium ? compiled.keyPositions.map { data[$0] } : []
        let oldKeySlots = parts.format == .debezium ? previous.map { old in compiled.keyPositions.map { old[$0] } } : nil
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
        let recordKey = key
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
            return try debeziumRecords(change, compiled: compiled, parts: parts, event: event, data: data, previous: previous,
                                       newKey: newKeySlots, oldKey: oldKeySlots, id: id, transaction: transaction, snapshot: snapshot,
                                       object: object)
        }
        let record = EventRecord(topic: compiled.mapping.topic, key: recordKey, value: value.bytes, headers: headers,
                                 eventID: id, eventType: event.eventType)
        if change.operation == .delete && compiled.mapping.tombstones {
            return [record, EventRecord(topic: record.topic, key: recordKey, value: nil, headers: [], eventID: id, eventType: event.eventType)]
        }
        return [record]
    }

    /// Debezium's records for one change: its value (`before`, `after`,
    /// `source`, `op`, `ts_ms`/`ts_us`/`ts_ns`, `transaction`) under its key
    /// object, a tombstone after a delete when the mapping asks for one, and
    /// for an update that changes the key, Debezium's three records instead
    /// of a `u`: a `d` under the old key (header `__debezium.newkey`), the
    /// tombstone, and a `c` under the new key (header `__debezium.oldkey`).
    /// Every record carries the change's one event id.
    func debeziumRecords(
        _ change: RowChange, compiled: CompiledTableMapping, parts: CompiledTableMapping.FormatParts,
        event: CompiledTableMapping.Event, data: [FieldSlot], previous: [FieldSlot]?,
        newKey: [FieldSlot], oldKey: [FieldSlot]?, id: String, transaction: TransactionInfo, snapshot: SnapshotEventContext?,
        object: (_ slots: [FieldSlot], _ writer: inout JSONWriter) -> Void
    ) throws(MappingError) -> [EventRecord] {
        func keyObject(_ slots: [FieldSlot]) -> [UInt8] {
            var writer = JSONWriter(capacity: 48)
            writer.byte(UInt8(ascii: "{"))
            for (index, position) in compiled.keyPositions.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.raw(compiled.fieldKeys[position])
                writer.value(slots[index].known!)
            }
            writer.byte(UInt8(ascii: "}"))
            return writer.bytes
        }
        func value(op: String, before: [FieldSlot]?, after: [FieldSlot]?) -> [UInt8] {
            var value = JSONWriter(capacity: 480 + 40 * data.count)
            value.raw("{\"before\":")
            if let before { object(before, &value) } else { value.raw("null") }
            value.raw(",\"after\":")
            if let after { object(after, &value) } else { value.raw("null") }
            // Debezium's source block in its order: version, connector, name,
            // ts_ms/ts_us/ts_ns, snapshot, db, sequence, schema, table, txId, lsn, xmin.
            let micros = transaction.commitTimeMicros
            func times(_ value: inout JSONWriter) {
                value.integer(micros / 1000)
                value.raw(",\"ts_us\":")
                value.integer(micros)
                value.raw(",\"ts_ns\":")
                value.integer(micros &* 1000)
            }
            value.raw(parts.debeziumSourcePrefix)
            times(&value)
            value.raw(snapshot == nil ? ",\"snapshot\":\"false\"" : ",\"snapshot\":\"true\"")
            value.raw(parts.debeziumSourceDatabase)
            value.unsigned(transaction.commitLSN.value)
            value.raw(parts.debeziumSourceTable)
            value.unsigned(UInt64(transaction.xid))
            value.raw(",\"lsn\":")
            value.unsigned(transaction.commitLSN.value)
            value.raw(",\"xmin\":null},\"op\":\"")
            value.raw(op)
            value.raw("\",\"ts_ms\":")
            times(&value)
            // `transaction` is null as with Debezium's default provide.transaction.metadata=false.
            value.raw(",\"transaction\":null}")
            return value.bytes
        }
        func record(key: [UInt8], value: [UInt8]?, headers: [EventHeader]) -> EventRecord {
            EventRecord(topic: compiled.mapping.topic, key: key, value: value, headers: headers, eventID: id, eventType: event.eventType)
        }
        let contentType = EventHeader(name: "content-type", value: EnvelopeParts.contentType)
        let key = keyObject(newKey)
        switch change.operation {
        case .insert:
            return [record(key: key, value: value(op: snapshot == nil ? "c" : "r", before: nil, after: data), headers: [contentType])]
        case .update:
            // Debezium: the old row under FULL; under DEFAULT pgoutput sends the
            // old key only when it changed, which is the key change below.
            if let oldKey, oldKey.allSatisfy({ $0.known != nil }), let previous {
                let old = keyObject(oldKey)
                if old != key {
                    var records = [record(key: old, value: value(op: "d", before: previous, after: nil),
                                          headers: [contentType, EventHeader(name: "__debezium.newkey", value: key)])]
                    if compiled.mapping.tombstones { records.append(record(key: old, value: nil, headers: [])) }
                    records.append(record(key: key, value: value(op: "c", before: nil, after: data),
                                          headers: [contentType, EventHeader(name: "__debezium.oldkey", value: old)]))
                    return records
                }
            }
            let before = change.oldKind == .full ? previous : nil
            return [record(key: key, value: value(op: "u", before: before, after: data), headers: [contentType])]
        case .delete:
            // `data` holds the old row: all of it with FULL, the key columns otherwise.
            let deleted = record(key: key, value: value(op: "d", before: data, after: nil), headers: [contentType])
            return compiled.mapping.tombstones ? [deleted, record(key: key, value: nil, headers: [])] : [deleted]
        }
    }
}
