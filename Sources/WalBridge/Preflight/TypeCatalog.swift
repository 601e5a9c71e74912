import EventMapping
import PostgresReplication

/// Reads what WalBridge needs to know about column types from `pg_type`:
/// domains resolved to their base type (for the value decoder), enum labels
/// and array element types (for the JSON Schemas). Caches per OID.
final class TypeCatalog {
    private struct TypeRow {
        var name: String
        var namespace: String
        var kind: Character      // typtype: b base, d domain, e enum, r range, c composite, m multirange, p pseudo
        var baseType: UInt32     // typbasetype (domains)
        var element: UInt32      // typelem (arrays: category 'A')
        var isArray: Bool
        var arrayType: UInt32    // typarray
    }

    private let connection: PostgresConnection
    private var rows: [UInt32: TypeRow] = [:]

    init(_ connection: PostgresConnection) { self.connection = connection }

    private func row(_ oid: UInt32) throws(PostgresError) -> TypeRow? {
        if let cached = rows[oid] { return cached }
        let result = try connection.query("""
            SELECT typname, typtype, typbasetype, typelem, typcategory = 'A' AND typelem <> 0 AS is_array, typarray,
                   (SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = typnamespace) AS nspname
            FROM pg_catalog.pg_type WHERE oid = \(oid)
            """)
        guard !result.rows.isEmpty else { return nil }
        let row = TypeRow(
            name: result.value(0, "typname") ?? "",
            namespace: result.value(0, "nspname") ?? "",
            kind: result.value(0, "typtype")?.first ?? "b",
            baseType: result.value(0, "typbasetype").flatMap { UInt32($0) } ?? 0,
            element: result.value(0, "typelem").flatMap { UInt32($0) } ?? 0,
            isArray: result.value(0, "is_array") == "t",
            arrayType: result.value(0, "typarray").flatMap { UInt32($0) } ?? 0)
        rows[oid] = row
        return row
    }

    /// The type whose text format `oid`'s values have: a domain's base type
    /// (through domains over domains), an array of domains' base array type.
    func resolved(_ oid: UInt32) throws(PostgresError) -> UInt32 {
        var current = oid
        for _ in 0..<32 {  // domain chains are short; a cycle cannot exist, but never loop forever
            guard let row = try row(current) else { return current }
            if row.kind == "d" {
                current = row.baseType
                continue
            }
            if row.isArray {
                let element = try resolved(row.element)
                guard element != row.element, let elementRow = try self.row(element), elementRow.arrayType != 0 else { return current }
                return elementRow.arrayType
            }
            return current
        }
        return current
    }

    /// Every domain (or array of domains) among `oids` → the type to decode it as.
    func baseTypes(of oids: some Sequence<UInt32>) throws(PostgresError) -> [UInt32: UInt32] {
        var map: [UInt32: UInt32] = [:]
        for oid in Set(oids) where oid >= 10_000 {  // built-in types are never domains
            let base = try resolved(oid)
            if base != oid { map[oid] = base }
        }
        return map
    }

    /// The non-built-in types among `oids` (enums, domains, extension types and
    /// their arrays) as the stream's Type messages would describe them, so the
    /// value decoder treats a snapshot's values like streamed ones.
    func registry(for oids: some Sequence<UInt32>) throws(PostgresError) -> TypeRegistry {
        var registry = TypeRegistry()
        for oid in Set(oids) where registry.name(of: oid) == nil {
            guard let row = try row(oid) else { continue }
            registry.register(TypeMessage(oid: oid, namespace: row.namespace == "pg_catalog" ? "" : row.namespace, name: row.name))
        }
        return registry
    }

    /// How values of `oid` are encoded, for the JSON Schema.
    func valueType(_ oid: UInt32) throws(PostgresError) -> ColumnDescription.ValueType {
        let base = try resolved(oid)
        guard let row = try row(base) else { return .text }
        if row.isArray { return .array(element: try valueType(row.element)) }
        switch row.kind {
        case "e":
            let labels = try connection.query("SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = \(base) ORDER BY enumsortorder")
            return .enumeration(labels: labels.rows.compactMap { $0.first ?? nil })
        case "b" where base < 10_000:
            return .builtin(oid: base)
        default:
            return .text
        }
    }

    /// The columns of a table with their encoding (nil when the table does not exist).
    func describe(_ table: QualifiedName) throws(PostgresError) -> [String: ColumnDescription]? {
        let result = try connection.query("""
            SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typname, a.atttypid,
                   a.attnotnull, a.attstorage IN ('x', 'e') AS toastable
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = pg_catalog.to_regclass(\(connection.quoteLiteral(table.sqlQuoted)))
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """)
        guard !result.rows.isEmpty else { return nil }
        var columns: [String: ColumnDescription] = [:]
        for index in result.rows.indices {
            let name = result.value(index, "attname") ?? ""
            let oid = result.value(index, "atttypid").flatMap { UInt32($0) } ?? 0
            columns[name] = ColumnDescription(
                name: name, typeName: result.value(index, "typname") ?? "", typeOID: oid,
                valueType: try valueType(oid), notNull: result.value(index, "attnotnull") == "t",
                toastable: result.value(index, "toastable") == "t")
        }
        return columns
    }

    /// The columns of the table's replica identity: the primary key (DEFAULT),
    /// the chosen index (USING INDEX), every column (FULL), none (NOTHING).
    func replicaIdentityColumns(_ table: QualifiedName, identity: Character, allColumns: [String]) throws(PostgresError) -> [String] {
        switch identity {
        case "f": return allColumns
        case "n": return []
        default:
            let flag = identity == "i" ? "indisreplident" : "indisprimary"
            let result = try connection.query("""
                SELECT a.attname FROM pg_catalog.pg_index i
                JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = pg_catalog.to_regclass(\(connection.quoteLiteral(table.sqlQuoted))) AND i.\(flag)
                """)
            return result.rows.compactMap { $0.first ?? nil }
        }
    }
}
