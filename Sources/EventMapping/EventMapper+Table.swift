import PostgresReplication

/// What a change tells about one mapped field.
enum FieldSlot: Sendable {
    /// A known value (possibly SQL NULL).
    case value(PostgresValue)
    /// Not sent and not wanted (a non-key column of a key-only old row): left out.
    case absent
    /// Not sent although wanted (an unchanged TOAST value): left out and named
    /// in `unavailableFields`.
    case unavailable

    var known: PostgresValue? {
        if case .value(let value) = self { value } else { nil }
    }
}

extension EventMapper {
    func mapTableChange(
        _ change: RowChange, compiled: CompiledTableMapping, transaction: TransactionInfo, snapshot: SnapshotEventContext? = nil,
        quiet: (QuietUpdate) -> Void = { _ in }
    ) throws(MappingError) -> [EventRecord] {
        let fixedEvent = snapshot == nil ? compiled.event(for: change.operation) : compiled.snapshot
        // Update rules or `skip_unchanged`: the event (or none) is decided below.
        let decides = snapshot == nil && change.operation == .update && compiled.decidesUpdates
        guard fixedEvent != nil || decides else { return [] }
        let table = compiled.mapping.table
        let operation = change.operation.name
        func fail(_ reason: MappingError.Reason) -> MappingError {
            MappingError(table: table, operation: operation, reason: reason)
        }
        let relation = change.relation
        // A mapped column the table no longer has (dropped or renamed while
        // streaming) is unavailable, like an unchanged TOAST value: left out
        // of `data` and named in `unavailableFields`. A missing key column
        // leaves no key to publish under: that change cannot be mapped.
        let indexes = compiled.columnIndexes(in: relation)
        for position in compiled.keyPositions where indexes[position] == nil {
            throw fail(.missingColumn(compiled.columns[position]))
        }
        if let row = change.new, row.count != relation.columns.count {
            throw fail(.rowShape(expected: relation.columns.count, actual: row.count))
        }
        if let row = change.old, row.count != relation.columns.count {
            throw fail(.rowShape(expected: relation.columns.count, actual: row.count))
        }
        let event: CompiledTableMapping.Event
        if decides {
            switch try decideUpdate(change, compiled: compiled, fail: { reason throws(MappingError) in throw fail(reason) }) {
            case .publish(let chosen):
                guard let chosen = chosen ?? fixedEvent else { return [] }
                event = chosen
            case .quiet(let reason):
                quiet(reason)
                return []
            }
        } else {
            event = fixedEvent!
        }
        if compiled.hasFormatParts, let parts = compiled.formatParts {
            return try mapFormattedChange(change, compiled: compiled, parts: parts, event: event, indexes: indexes, transaction: transaction,
                                          snapshot: snapshot, fail: { reason throws(MappingError) in throw fail(reason) })
        }
        // The common case, an insert (or a snapshot row) with every mapped
        // column at hand: written straight from the row, with no slot array.
        if change.operation == .insert, let new = change.new, !indexes.contains(nil),
           !new.contains(where: { if case .unchangedToast = $0 { true } else { false } }) {
            let slot = { (position: Int) -> FieldSlot in Self.slot(new[indexes[position]!]) }
            let key = try keyBytes(compiled: compiled, slot: slot) { reason throws(MappingError) in throw fail(reason) }
            let id = snapshot.map { snapshotEventID(jobID: $0.jobID, table: compiled.mapping.table, key: key) }
                ?? eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
            var writer = JSONWriter(capacity: 320 + 40 * indexes.count)
            writeEnvelopeHead(&writer, id: id, event: event, compiled: compiled, transaction: transaction, snapshot: snapshot != nil)
            if compiled.hasTransforms, let transforms = compiled.transforms {
                writeTransformedBody(&writer, count: indexes.count, compiled, transforms: transforms, slot: slot)
            } else {
                writeObjectBody(&writer, count: indexes.count, compiled, slot: slot)
            }
            writer.byte(UInt8(ascii: "}"))
            writer.byte(UInt8(ascii: "}"))
            return [record(compiled: compiled, event: event, key: key, id: id, value: writer.bytes)]
        }
        let oldIsFull = change.oldKind == .full

        guard let slots = Self.fieldSlots(change, indexes: indexes) else {
            throw fail(.missingRow(change.operation == .delete ? "old row" : "new row"))
        }
        var (data, previous) = slots

        // The Kafka key, from the published state.
        let key = try keyBytes(compiled: compiled, slot: { data[$0] }) { reason throws(MappingError) in throw fail(reason) }
        // An update rule's `fields:`: the event carries only those.
        if let carries = event.carries {
            for position in data.indices where !carries[position] {
                data[position] = .absent
                previous?[position] = .absent
            }
        }

        let id = snapshot.map { snapshotEventID(jobID: $0.jobID, table: compiled.mapping.table, key: key) }
            ?? eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
        var writer = JSONWriter(capacity: 320 + 40 * indexes.count)
        writeEnvelopeHead(&writer, id: id, event: event, compiled: compiled, transaction: transaction, snapshot: snapshot != nil)
        if compiled.hasTransforms, let transforms = compiled.transforms {
            writeTransformedBody(&writer, count: data.count, compiled, transforms: transforms, slot: { data[$0] })
        } else {
            writeObjectBody(&writer, count: data.count, compiled, slot: { data[$0] })
        }
        writer.byte(UInt8(ascii: "}"))
        if let previous {
            writer.raw(EnvelopeParts.previousPart)
            if compiled.hasTransforms, let transforms = compiled.transforms {
                writeTransformedBody(&writer, count: previous.count, compiled, transforms: transforms, slot: { previous[$0] })
            } else {
                writeObjectBody(&writer, count: previous.count, compiled, slot: { previous[$0] })
            }
            writer.byte(UInt8(ascii: "}"))
            if oldIsFull {
                writer.raw(EnvelopeParts.changedFieldsPart)
                var first = true
                for position in data.indices {
                    guard let new = data[position].known, let old = previous[position].known, !Self.same(new, old) else { continue }
                    if !first { writer.byte(UInt8(ascii: ",")) }
                    first = false
                    writer.raw(compiled.fieldNames[position])
                }
                writer.byte(UInt8(ascii: "]"))
            }
        }
        if data.contains(where: { if case .unavailable = $0 { true } else { false } }) {
            writer.raw(EnvelopeParts.unavailableFieldsPart)
            var first = true
            for position in data.indices {
                guard case .unavailable = data[position] else { continue }
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                writer.raw(compiled.fieldNames[position])
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.byte(UInt8(ascii: "}"))

        let record = record(compiled: compiled, event: event, key: key, id: id, value: writer.bytes)
        if change.operation == .delete && compiled.mapping.tombstones {
            return [record, EventRecord(topic: record.topic, key: key, value: nil, headers: [], eventID: id, eventType: event.eventType)]
        }
        return [record]
    }

    static func slot(_ value: RowValue) -> FieldSlot {
        switch value {
        case .value(let value): .value(value)
        case .unchangedToast: .unavailable
        }
    }

    /// The relation's column index for each mapped column, nil for a column
    /// the relation does not have (see `columnIndexes`).
    static func optionalColumnIndexes(of columns: [String], in relation: Relation) -> [Int?] {
        var result: [Int?] = []
        result.reserveCapacity(columns.count)
        let relationColumns = relation.columns
        var hint = 0
        for column in columns {
            let found = index(of: column, in: relationColumns, from: hint)
            result.append(found)
            if let found { hint = found + 1 }
        }
        return result
    }

    /// The index of the column named `column`, scanning from `hint` and wrapping around.
    private static func index(of column: String, in relationColumns: [Relation.Column], from hint: Int) -> Int? {
        for step in 0..<relationColumns.count {
            let index = (hint + step) % relationColumns.count
            if relationColumns[index].name == column { return index }
        }
        return nil
    }

    /// The mapped columns (source names) a relation does not have: dropped or
    /// renamed since the mapping was checked. Empty when the table is not a
    /// table mapping. The pipeline logs them when a Relation message arrives.
    public func missingMappedColumns(in relation: Relation) -> [String] {
        guard case .table(let compiled) = tables[QualifiedName(schema: relation.schema, table: relation.name)] else { return [] }
        let present = Set(relation.columns.map(\.name))
        return compiled.columns.filter { !present.contains($0) }
    }

    /// The relation's column index for each mapped column. Scans from just
    /// after the previous match, so fields listed in table order cost one pass.
    static func columnIndexes(
        of columns: [String], in relation: Relation, missing: (String) throws(MappingError) -> Never
    ) throws(MappingError) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(columns.count)
        let relationColumns = relation.columns
        var hint = 0
        for column in columns {
            guard let found = index(of: column, in: relationColumns, from: hint) else { try missing(column) }
            result.append(found)
            hint = found + 1
        }
        return result
    }

    /// `{"eventId":"…","eventType":…,"occurredAt":"…","source":{…},"data":{` of an event.
    func writeEnvelopeHead(
        _ writer: inout JSONWriter, id: String, event: CompiledTableMapping.Event, compiled: CompiledTableMapping,
        transaction: TransactionInfo, snapshot: Bool
    ) {
        writer.raw(EnvelopeParts.eventIDStart)
        writer.raw(id)
        writer.raw(event.typeAndVersion)
        writer.rfc3339(unixMicros: transaction.commitTimeMicros)
        writer.raw(compiled.sourcePrefix)
        writer.lsn(transaction.commitLSN)
        writer.raw(EnvelopeParts.txIDPart)
        writer.unsigned(UInt64(transaction.xid))
        if snapshot { writer.raw(EnvelopeParts.snapshotFlag) }
        writer.raw(EnvelopeParts.dataPart)
    }

    /// The Kafka record of an event, with its four headers.
    func record(compiled: CompiledTableMapping, event: CompiledTableMapping.Event, key: [UInt8], id: String, value: [UInt8]) -> EventRecord {
        let headers = [
            EventHeader(name: "event-type", value: event.eventTypeHeader),
            EventHeader(name: "event-id", value: Array(id.utf8)),
            EventHeader(name: "schema-version", value: compiled.schemaVersionHeader),
            EventHeader(name: "content-type", value: EnvelopeParts.contentType),
        ]
        return EventRecord(topic: compiled.mapping.topic, key: key, value: value, headers: headers, eventID: id, eventType: event.eventType)
    }

    /// The fields with a value, `"name":value,…`, from `slot(position)` for each mapped position.
    func writeObjectBody(_ writer: inout JSONWriter, count: Int, _ compiled: CompiledTableMapping, slot: (Int) -> FieldSlot) {
        var first = true
        for position in 0..<count {
            guard case .value(let value) = slot(position) else { continue }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.raw(compiled.fieldKeys[position])
            writer.value(value)
        }
    }

    func keyBytes(
        compiled: CompiledTableMapping, slot: (Int) -> FieldSlot, fail: (MappingError.Reason) throws(MappingError) -> Never
    ) throws(MappingError) -> [UInt8] {
        for position in compiled.keyPositions {
            switch slot(position) {
            case .value(.null): try fail(.nullKey(column: compiled.columns[position]))
            case .value: continue
            case .absent, .unavailable: try fail(.unavailableKey(column: compiled.columns[position]))
            }
        }
        var writer = JSONWriter(capacity: 32)
        if compiled.keyPositions.count == 1 {
            writer.keyText(slot(compiled.keyPositions[0]).known!)
        } else {
            writer.byte(UInt8(ascii: "{"))
            for (index, position) in compiled.keyPositions.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.raw(compiled.fieldKeys[position])
                writer.value(slot(position).known!)
            }
            writer.byte(UInt8(ascii: "}"))
        }
        return writer.bytes
    }

    /// Value equality for `changedFields`: like `==`, but NaN equals NaN.
    static func same(_ a: PostgresValue, _ b: PostgresValue) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)):
            return x == y || (x.isNaN && y.isNaN)
        case (.array(let xs), .array(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy { same($0, $1) }
        default:
            return a == b
        }
    }
}

extension EventMapper {
    /// The published state of a change, one slot per mapped column (`data`),
    /// and what is known of the old row (`previous`, updates only): unchanged
    /// TOAST values come from a FULL old row or are unavailable; a delete under
    /// DEFAULT carries only the key. Nil when the row the operation needs is missing.
    static func fieldSlots(_ change: RowChange, indexes: [Int?]) -> (data: [FieldSlot], previous: [FieldSlot]?)? {
        let relation = change.relation
        let oldIsFull = change.oldKind == .full
        switch change.operation {
        case .insert:
            guard let new = change.new else { return nil }
            return (indexes.map { index in index.map { slot(new[$0]) } ?? .unavailable }, nil)
        case .update:
            guard let new = change.new else { return nil }
            let old = change.old
            let data: [FieldSlot] = indexes.map { index in
                guard let index else { return .unavailable }
                switch new[index] {
                case .value(let value): return .value(value)
                case .unchangedToast:
                    if oldIsFull, let old, case .value(let value) = old[index] { return .value(value) }
                    return .unavailable
                }
            }
            let previous: [FieldSlot]? = old.map { old in
                indexes.map { index in
                    guard let index else { return .absent }
                    if oldIsFull { return old[index] == .unchangedToast ? .absent : slot(old[index]) }
                    return relation.columns[index].isKey ? slot(old[index]) : .absent
                }
            }
            return (data, previous)
        case .delete:
            guard let old = change.old else { return nil }
            return (indexes.map { index in
                guard let index else { return oldIsFull ? .unavailable : .absent }
                return oldIsFull || relation.columns[index].isKey ? slot(old[index]) : .absent
            }, nil)
        }
    }
}
