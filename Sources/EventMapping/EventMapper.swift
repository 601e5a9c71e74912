import Configuration
import PostgresReplication

/// Turns row changes into Kafka records according to the configured mappings.
///
/// Immutable and `Sendable`: build one per run (after the caller has resolved
/// each table's primary key for mappings without `key:`), share it freely.
public struct EventMapper: Sendable {
    enum Compiled: Sendable {
        case table(CompiledTableMapping)
        case outbox(OutboxMapping)
    }

    public let systemID: String
    public let database: String
    let tables: [QualifiedName: Compiled]
    let messages: [String: MessageMapping]
    /// `<systemID>/<database>/` as UTF-8, the start of every event-id name.
    let idPrefix: [UInt8]

    /// - Parameters:
    ///   - configuration: the checked configuration.
    ///   - keyColumns: each table's key columns as resolved against the
    ///     database (its primary key, in key order). Needed for every table
    ///     mapping without `key:`; for a mapping with `key:` the configured key wins.
    ///   - systemID: the system identifier from `IDENTIFY_SYSTEM`.
    ///   - database: the source database's name (appears in `source.database`
    ///     and in event ids).
    /// - Throws: when a mapping without `key:` has no key columns given, or
    ///   one of them is not listed in `fields`.
    public init(
        configuration: BridgeConfiguration, keyColumns: [QualifiedName: [String]] = [:], systemID: String, database: String
    ) throws(ConfigurationError) {
        let primaryKeys = keyColumns
        self.systemID = systemID
        self.database = database
        idPrefix = Array("\(systemID)/\(database)/".utf8)
        var tables: [QualifiedName: Compiled] = [:]
        var messages: [String: MessageMapping] = [:]
        for mapping in configuration.mappings {
            switch mapping {
            case .table(let table):
                let keyColumns = try Self.keyColumns(of: table, primaryKeys: primaryKeys, source: configuration.source)
                tables[table.table] = .table(CompiledTableMapping(mapping: table, keyColumns: keyColumns, database: database))
            case .outbox(let outbox):
                tables[outbox.table] = .outbox(outbox)
            case .message(let message):
                messages[message.prefix] = message
            }
        }
        self.tables = tables
        self.messages = messages
    }

    static func keyColumns(of mapping: TableMapping, primaryKeys: [QualifiedName: [String]], source: String) throws(ConfigurationError) -> [String] {
        if let key = mapping.key { return key }
        let path = "mappings[\(mapping.index)]"
        guard let primaryKey = primaryKeys[mapping.table], !primaryKey.isEmpty else {
            throw ConfigurationError(
                kind: .databaseMismatch, source: source, keyPath: path + ".key",
                message: "table \(mapping.table) has no primary key to use as the event key; list the key columns with key: [...]")
        }
        for column in primaryKey where mapping.field(forColumn: column) == nil {
            throw ConfigurationError(
                kind: .databaseMismatch, source: source, keyPath: path + ".fields",
                message: "primary-key column '\(column)' of \(mapping.table) is the event key but is not listed in fields; add it to fields (or set key: explicitly)")
        }
        for column in primaryKey where mapping.fields.contains(where: { $0.column == column && $0.transform != nil }) {
            throw ConfigurationError(
                kind: .invalidValue, source: source, keyPath: path + ".fields." + column,
                message: "primary-key column '\(column)' of \(mapping.table) is the event key: " + MappingDecoder.transformedKeyMessage(column: column))
        }
        return primaryKey
    }

    /// The mapping of a table, or nil when the table is not mapped.
    public func mapping(forSchema schema: String, table: String) -> Mapping? {
        switch tables[QualifiedName(schema: schema, table: table)] {
        case .table(let compiled): .table(compiled.mapping)
        case .outbox(let outbox): .outbox(outbox)
        case nil: nil
        }
    }

    /// The mapping of a logical-message prefix, or nil.
    public func messageMapping(forPrefix prefix: String) -> MessageMapping? { messages[prefix] }

    /// The key columns (source names, in key order) of a mapped table: its
    /// `key:` or the primary key given at init. Nil when the table is not a table mapping.
    public func keyColumns(forSchema schema: String, table: String) -> [String]? {
        guard case .table(let compiled) = tables[QualifiedName(schema: schema, table: table)] else { return nil }
        return compiled.keyPositions.map { compiled.columns[$0] }
    }

    /// Maps one row change to the records to publish, in order.
    ///
    /// Returns `[]` when the table or the operation is not mapped; one event
    /// record, or for a delete with `tombstones: true` the event then a tombstone.
    ///
    /// An update that `skip_unchanged` or the update rules leave unpublished
    /// also returns `[]`, and calls `quiet` with why (for the metrics).
    public func map(
        _ change: RowChange, transaction: TransactionInfo, quiet: (QuietUpdate) -> Void = { _ in }
    ) throws(MappingError) -> [EventRecord] {
        let name = QualifiedName(schema: change.relation.schema, table: change.relation.name)
        switch tables[name] {
        case nil:
            return []
        case .table(let compiled):
            return try mapTableChange(change, compiled: compiled, transaction: transaction, quiet: quiet)
        case .outbox(let outbox):
            return try mapOutboxChange(change, mapping: outbox, transaction: transaction)
        }
    }

    /// The event id of the change at `ordinal` in the transaction committed at `commitLSN`.
    public func eventID(commitLSN: LSN, ordinal: Int) -> String {
        // `<prefix><X>/<Y>/<ordinal>` on the stack: 2 × 8 hex digits, 2 slashes, 20 digits at most.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: idPrefix.count + 40) { name in
            var count = name.initialize(fromContentsOf: idPrefix)
            @inline(__always) func put(_ byte: UInt8) { name[count] = byte; count += 1 }
            @inline(__always) func hex(_ value: UInt32) {
                var shift: UInt32 = 28
                while shift > 0, (value >> shift) & 0xF == 0 { shift -= 4 }
                while true {
                    put(JSONWriter.upperHexDigit(value >> shift))
                    if shift == 0 { break }
                    shift -= 4
                }
            }
            hex(UInt32(truncatingIfNeeded: commitLSN.value >> 32))
            put(UInt8(ascii: "/"))
            hex(UInt32(truncatingIfNeeded: commitLSN.value))
            put(UInt8(ascii: "/"))
            var digits = 1
            var rest = max(ordinal, 0)
            while rest >= 10 { rest /= 10; digits += 1 }
            rest = max(ordinal, 0)
            for index in stride(from: count + digits - 1, through: count, by: -1) {
                name[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            count += digits
            return UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: UnsafeBufferPointer(rebasing: name[..<count]))
        }
    }
}

extension JSONWriter {
    /// An LSN as `X/Y` in upper-case hex (no quotes).
    public mutating func lsn(_ lsn: LSN) {
        hex(UInt32(truncatingIfNeeded: lsn.value >> 32))
        byte(UInt8(ascii: "/"))
        hex(UInt32(truncatingIfNeeded: lsn.value))
    }

    mutating func hex(_ value: UInt32) {
        var shift: UInt32 = 28
        while shift > 0, (value >> shift) & 0xF == 0 { shift -= 4 }
        while true {
            byte(Self.upperHexDigits[Int((value >> shift) & 0xF)])
            if shift == 0 { break }
            shift -= 4
        }
    }

    static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// The upper-case hex digit of the low nibble of `value`.
    @inline(__always)
    static func upperHexDigit(_ value: UInt32) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "A") &+ (nibble &- 10)
    }
}
