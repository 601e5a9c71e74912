import PostgresReplication
import Synchronization

/// A table mapping prepared for the hot path: every constant part of the
/// envelope is pre-encoded as JSON bytes. A class (immutable, so `Sendable`):
/// looking it up per change costs one retain instead of one per array.
final class CompiledTableMapping: Sendable {
    /// Per-operation constants.
    struct Event: Sendable {
        let eventType: String
        /// `","eventType":"…","schemaVersion":N,"occurredAt":"`
        let typeAndVersion: [UInt8]
        let eventTypeHeader: [UInt8]
    }

    let mapping: TableMapping
    /// Source column names, in `fields` order.
    let columns: [String]
    /// `"fieldName":` per field.
    let fieldKeys: [[UInt8]]
    /// `"fieldName"` per field (for changedFields/unavailableFields).
    let fieldNames: [[UInt8]]
    /// Positions in `columns` of the key columns, in key order.
    let keyPositions: [Int]
    /// `,"source":{"database":"…","schema":"…","table":"…","lsn":"`
    let sourcePrefix: [UInt8]
    let insert: Event?
    let update: Event?
    let delete: Event?
    /// The snapshot (backfill) event: `snapshot.event`, else the insert event.
    let snapshot: Event?
    let schemaVersionHeader: [UInt8]
    /// The mapped columns' indexes in the last relation seen: the assembler
    /// hands the same relation (one columns buffer) for every change of a table,
    /// so comparing it is one identity check.
    private let lastIndexes = Mutex<(columns: [Relation.Column], indexes: [Int?])?>(nil)

    init(mapping: TableMapping, keyColumns: [String], database: String) {
        self.mapping = mapping
        columns = mapping.fields.map(\.column)
        fieldKeys = mapping.fields.map { field in
            var writer = JSONWriter(capacity: field.field.utf8.count + 3)
            writer.key(field.field)
            return writer.bytes
        }
        fieldNames = mapping.fields.map { field in
            var writer = JSONWriter(capacity: field.field.utf8.count + 2)
            writer.string(field.field)
            return writer.bytes
        }
        let columns = columns
        keyPositions = keyColumns.map { column in columns.firstIndex(of: column)! }
        var source = JSONWriter()
        source.raw("\",\"source\":{\"database\":")
        source.string(database)
        source.raw(",\"schema\":")
        source.string(mapping.table.schema)
        source.raw(",\"table\":")
        source.string(mapping.table.table)
        source.raw(",\"lsn\":\"")
        sourcePrefix = source.bytes
        let version = mapping.schemaVersion
        func event(_ type: String?) -> Event? {
            type.map { Event(eventType: $0, typeAndVersion: EnvelopeParts.typeAndVersion(type: $0, version: version),
                             eventTypeHeader: Array($0.utf8)) }
        }
        insert = event(mapping.events.insert)
        update = event(mapping.events.update)
        delete = event(mapping.events.delete)
        snapshot = event(mapping.snapshotEventType)
        schemaVersionHeader = Array(String(version).utf8)
    }

    /// The relation's column index of each mapped column (nil when the relation lacks it).
    func columnIndexes(in relation: Relation) -> [Int?] {
        if let last = lastIndexes.withLock({ $0 }), last.columns == relation.columns { return last.indexes }
        let indexes = EventMapper.optionalColumnIndexes(of: columns, in: relation)
        lastIndexes.withLock { $0 = (relation.columns, indexes) }
        return indexes
    }

    func event(for operation: RowChange.Operation) -> Event? {
        switch operation {
        case .insert: insert
        case .update: update
        case .delete: delete
        }
    }
}

/// Constant pieces of the envelope.
enum EnvelopeParts {
    static let eventIDStart: [UInt8] = Array("{\"eventId\":\"".utf8)
    static let txIDPart: [UInt8] = Array("\",\"txId\":".utf8)
    static let snapshotFlag: [UInt8] = Array(",\"snapshot\":true".utf8)
    static let dataPart: [UInt8] = Array("},\"data\":{".utf8)
    static let previousPart: [UInt8] = Array(",\"previous\":{".utf8)
    static let changedFieldsPart: [UInt8] = Array(",\"changedFields\":[".utf8)
    static let unavailableFieldsPart: [UInt8] = Array(",\"unavailableFields\":[".utf8)
    static let contentType: [UInt8] = Array("application/json".utf8)

    /// `","eventType":"…","schemaVersion":N,"occurredAt":"`
    static func typeAndVersion(type: String, version: Int) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("\",\"eventType\":")
        writer.string(type)
        writer.raw(",\"schemaVersion\":")
        writer.integer(Int64(version))
        writer.raw(",\"occurredAt\":\"")
        return writer.bytes
    }
}
