import Configuration
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
        /// Per field: whether the event carries it (a rule's `fields:`); nil means every field.
        var carries: [Bool]? = nil
    }

    /// One `events.update` rule, its columns as read positions (see `readIndexes`).
    struct Rule: Sendable {
        let event: Event
        let set: [Int]
        let cleared: [Int]
        let changed: [Int]
    }

    /// A field transform. The HMAC's key pads are hashed once, here.
    enum Transform: Sendable {
        case hmacSHA256(HMACSHA256)
        case maskLast4
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
    /// Per field, its transform; nil when no field has one (the common case costs one check).
    let transforms: [Transform?]?
    /// `transforms != nil`, read without touching the array (no retain on the hot path).
    let hasTransforms: Bool
    /// `events.update` as rules; nil when `update` is a name (or absent).
    let rules: [Rule]?
    /// `skip_unchanged`.
    let skipUnchanged: Bool
    /// True when an update needs `decideUpdate` (rules or `skip_unchanged`).
    let decidesUpdates: Bool
    /// The columns an update decision reads: `columns`, then the rules' other columns.
    let readColumns: [String]
    /// The constants of a non-default `format`; nil for `walbridge` (checked once per change).
    let formatParts: FormatParts?
    /// `formatParts != nil`, read without copying the parts (no retains on the default path).
    let hasFormatParts: Bool
    private let lastReadIndexes = Mutex<(columns: [Relation.Column], indexes: [Int?])?>(nil)
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
        if mapping.fields.contains(where: { $0.transform != nil }) {
            transforms = mapping.fields.map { field in
                switch field.transform {
                case .hmacSHA256(let key): .hmacSHA256(HMACSHA256(key: key.bytes))
                case .maskLast4: .maskLast4
                case nil: nil
                }
            }
        } else {
            transforms = nil
        }
        hasTransforms = transforms != nil
        let readColumns = mapping.readColumns
        self.readColumns = readColumns
        let fieldNames = mapping.fields.map(\.field)
        if mapping.events.updateRules.isEmpty {
            rules = nil
        } else {
            rules = mapping.events.updateRules.map { rule in
                var compiled = event(rule.eventType)!
                compiled.carries = rule.fields.map { names in fieldNames.map { names.contains($0) } }
                func positions(_ columns: [String]) -> [Int] { columns.map { readColumns.firstIndex(of: $0)! } }
                return Rule(event: compiled, set: positions(rule.set), cleared: positions(rule.cleared), changed: positions(rule.changed))
            }
        }
        skipUnchanged = mapping.skipUnchanged
        decidesUpdates = rules != nil || mapping.skipUnchanged
        formatParts = mapping.format == .walbridge ? nil : FormatParts(mapping: mapping, database: database)
        hasFormatParts = formatParts != nil
    }

    /// The relation's column index of each read column (`readColumns`), nil when the relation lacks it.
    func readIndexes(in relation: Relation) -> [Int?] {
        if let last = lastReadIndexes.withLock({ $0 }), last.columns == relation.columns { return last.indexes }
        let indexes = EventMapper.optionalColumnIndexes(of: readColumns, in: relation)
        lastReadIndexes.withLock { $0 = (relation.columns, indexes) }
        return indexes
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
