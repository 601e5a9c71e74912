/// What `IDENTIFY_SYSTEM` says about the server.
public struct SystemIdentity: Sendable, Hashable {
    /// The cluster's unique system identifier (a decimal string).
    public var systemID: String
    public var timeline: Int
    /// The current WAL flush position.
    public var walPosition: LSN
    /// The database this replication session is attached to.
    public var database: String
}

/// A replication slot as `pg_replication_slots` reports it.
public struct SlotInfo: Sendable, Hashable {
    public var name: String
    public var plugin: String?
    public var slotType: String
    public var database: String?
    public var isActive: Bool
    public var activePID: Int32?
    public var confirmedFlushLSN: LSN?
    public var restartLSN: LSN?
    /// `reserved`, `extended`, `unreserved` or `lost`.
    public var walStatus: String?
    /// Postgres 17+: the slot is synchronised to standbys (`FAILOVER`); nil before 17.
    public var failover: Bool?
    /// Postgres 17+, on a standby: the slot is a copy kept in step with the
    /// primary's by `sync_replication_slots` (usable once the standby is promoted); nil before 17.
    public var synced: Bool?
}

/// A column of a table, from the catalog.
public struct CatalogColumn: Sendable, Hashable {
    public var name: String
    public var typeName: String
    public var typeOID: UInt32
    public var isPrimaryKey: Bool
}

/// A table as the catalog describes it.
public struct CatalogTable: Sendable, Hashable {
    public var schema: String
    public var name: String
    public var columns: [CatalogColumn]
    /// `d` default, `n` nothing, `f` full, `i` index.
    public var replicaIdentity: Character
    public var primaryKey: [String] { columns.filter(\.isPrimaryKey).map(\.name) }
}

/// A publication and the tables (and, on Postgres 15, columns) it publishes.
public struct PublicationInfo: Sendable, Hashable {
    public var name: String
    public var allTables: Bool
    public var publishesInsert: Bool
    public var publishesUpdate: Bool
    public var publishesDelete: Bool
    public var publishesTruncate: Bool
    /// Published columns per table.
    public var tables: [QualifiedName: [String]]
}

/// One table of a publication that WalBridge creates.
public struct PublicationTable: Sendable, Hashable {
    public var table: QualifiedName
    /// The column list (Postgres 15); nil publishes every column.
    public var columns: [String]?
    /// A row filter (`WHERE` condition), or nil.
    public var rowFilter: String?
    public init(table: QualifiedName, columns: [String]?, rowFilter: String?) {
        self.table = table; self.columns = columns; self.rowFilter = rowFilter
    }
}

/// Catalog queries and replication commands WalBridge needs: identity, settings,
/// slots and publications. All of them work on a `replication=database` session
/// (simple query protocol) as well as on an ordinary one.
extension PostgresConnection {
    /// Runs `IDENTIFY_SYSTEM` (replication sessions only).
    public func identifySystem() throws(PostgresError) -> SystemIdentity {
        let result = try query("IDENTIFY_SYSTEM")
        guard let systemID = result.value(0, "systemid"),
              let timeline = result.value(0, "timeline").flatMap({ Int($0) }),
              let position = result.value(0, "xlogpos").flatMap({ LSN($0) }),
              let database = result.value(0, "dbname")
        else {
            throw PostgresError(kind: .protocolViolation, message: "IDENTIFY_SYSTEM returned an unexpected row; is this a replication=database session?")
        }
        return SystemIdentity(systemID: systemID, timeline: timeline, walPosition: position, database: database)
    }

    /// The value of a server setting.
    public func setting(_ name: String) throws(PostgresError) -> String {
        let result = try query("SELECT current_setting(\(quoteLiteral(name)))")
        return result.rows.first?.first.flatMap { $0 } ?? ""
    }

    /// Fails with a configuration error unless `wal_level` is `logical`.
    public func requireLogicalWALLevel() throws(PostgresError) {
        let level = try setting("wal_level")
        guard level == "logical" else {
            throw PostgresError(
                kind: .configuration,
                message: "wal_level is '\(level)'; set wal_level=logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart Postgres")
        }
    }

    /// The slot called `name`, or nil.
    public func slot(named name: String) throws(PostgresError) -> SlotInfo? {
        let failoverColumns = version.supportsFailoverSlots ? ", failover, synced" : ""
        let result = try query("""
            SELECT slot_name, plugin, slot_type, database, active, active_pid,
                   confirmed_flush_lsn, restart_lsn, wal_status\(failoverColumns)
            FROM pg_catalog.pg_replication_slots WHERE slot_name = \(quoteLiteral(name))
            """)
        guard !result.rows.isEmpty else { return nil }
        return SlotInfo(
            name: name,
            plugin: result.value(0, "plugin"),
            slotType: result.value(0, "slot_type") ?? "",
            database: result.value(0, "database"),
            isActive: result.value(0, "active") == "t",
            activePID: result.value(0, "active_pid").flatMap { Int32($0) },
            confirmedFlushLSN: result.value(0, "confirmed_flush_lsn").flatMap { LSN($0) },
            restartLSN: result.value(0, "restart_lsn").flatMap { LSN($0) },
            walStatus: result.value(0, "wal_status"),
            failover: version.supportsFailoverSlots ? result.value(0, "failover") == "t" : nil,
            synced: version.supportsFailoverSlots ? result.value(0, "synced") == "t" : nil)
    }

    /// Creates a logical slot with the pgoutput plugin (replication sessions only).
    /// Returns the slot's consistent point: the LSN streaming starts from.
    /// - Parameter failover: create it with `FAILOVER` (Postgres 17+), so
    ///   `sync_replication_slots` keeps a copy on the standbys.
    public func createLogicalSlot(named name: String, failover: Bool = false) throws(PostgresError) -> LSN {
        let options = failover ? "SNAPSHOT 'nothing', FAILOVER true" : "SNAPSHOT 'nothing'"
        let command = serverVersion >= 150000
            ? "CREATE_REPLICATION_SLOT \(quoteIdentifier(name)) LOGICAL pgoutput (\(options))"
            : "CREATE_REPLICATION_SLOT \(quoteIdentifier(name)) LOGICAL pgoutput NOEXPORT_SNAPSHOT"
        let result = try query(command)
        guard let point = result.value(0, "consistent_point").flatMap({ LSN($0) }) else {
            throw PostgresError(kind: .protocolViolation, message: "CREATE_REPLICATION_SLOT returned no consistent point")
        }
        return point
    }

    /// Turns on `FAILOVER` for an existing slot (`ALTER_REPLICATION_SLOT`,
    /// Postgres 17+, replication sessions only; the slot must not be in use).
    public func enableFailover(slot name: String) throws(PostgresError) {
        try query("ALTER_REPLICATION_SLOT \(quoteIdentifier(name)) (FAILOVER true)")
    }

    /// True on a hot standby (`pg_is_in_recovery()`).
    public func isInRecovery() throws(PostgresError) -> Bool {
        try query("SELECT pg_catalog.pg_is_in_recovery()").rows.first?.first == "t"
    }

    /// Drops the slot `name` (it must not be active).
    public func dropSlot(named name: String) throws(PostgresError) {
        try query("SELECT pg_catalog.pg_drop_replication_slot(\(quoteLiteral(name)))")
    }

    /// The table `schema.name` with its columns in attribute order, or nil when it does not exist.
    public func table(_ table: QualifiedName) throws(PostgresError) -> CatalogTable? {
        let result = try query("""
            SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typname, a.atttypid,
                   COALESCE(a.attnum = ANY(i.indkey), false) AS is_pk, c.relreplident
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE n.nspname = \(quoteLiteral(table.schema)) AND c.relname = \(quoteLiteral(table.table))
              AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """)
        guard !result.rows.isEmpty else { return nil }
        let columns = result.rows.indices.map { row in
            CatalogColumn(
                name: result.value(row, "attname") ?? "",
                typeName: result.value(row, "typname") ?? "",
                typeOID: result.value(row, "atttypid").flatMap { UInt32($0) } ?? 0,
                isPrimaryKey: result.value(row, "is_pk") == "t")
        }
        let identity = result.value(0, "relreplident").flatMap(\.first) ?? "d"
        return CatalogTable(schema: table.schema, name: table.table, columns: columns, replicaIdentity: identity)
    }

    /// Whether the session's role may SELECT from the table.
    public func canSelect(_ table: QualifiedName) throws(PostgresError) -> Bool {
        let name = quoteIdentifier(table.schema) + "." + quoteIdentifier(table.table)
        let result = try query("SELECT pg_catalog.has_table_privilege(\(quoteLiteral(name)), 'SELECT')")
        return result.rows.first?.first == "t"
    }

    /// Whether the session's role has the REPLICATION attribute (or is a superuser).
    public func hasReplicationRight() throws(PostgresError) -> Bool {
        let result = try query("SELECT rolreplication OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
        return result.rows.first?.first == "t"
    }

    /// The publication `name` with its tables and published columns, or nil.
    public func publication(named name: String) throws(PostgresError) -> PublicationInfo? {
        let header = try query("""
            SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate
            FROM pg_catalog.pg_publication WHERE pubname = \(quoteLiteral(name))
            """)
        guard !header.rows.isEmpty else { return nil }
        // Postgres 15's view lists a table's stored generated columns although
        // pgoutput never sends them (16 and later list only what is published):
        // leave them out there, so a mapping that names one is refused up front.
        let columnsExpression = switch serverVersion {
        case 160000...: "attnames::text[]"
        case 150000..<160000: """
            ARRAY(SELECT name FROM unnest(attnames) AS name WHERE NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = pg_catalog.format('%I.%I', schemaname, tablename)::regclass
                  AND a.attname = name AND a.attgenerated <> ''))::text[]
            """
        default: "NULL::text[]"
        }
        let tables = try query("""
            SELECT schemaname, tablename, \(columnsExpression) AS attnames
            FROM pg_catalog.pg_publication_tables WHERE pubname = \(quoteLiteral(name))
            """)
        var published: [QualifiedName: [String]] = [:]
        for row in tables.rows.indices {
            let table = QualifiedName(schema: tables.value(row, "schemaname") ?? "", table: tables.value(row, "tablename") ?? "")
            published[table] = tables.value(row, "attnames").map(PostgresArrayText.parseTextArray) ?? []
        }
        return PublicationInfo(
            name: name,
            allTables: header.value(0, "puballtables") == "t",
            publishesInsert: header.value(0, "pubinsert") == "t",
            publishesUpdate: header.value(0, "pubupdate") == "t",
            publishesDelete: header.value(0, "pubdelete") == "t",
            publishesTruncate: header.value(0, "pubtruncate") == "t",
            tables: published)
    }

    /// The `CREATE PUBLICATION` statement for these tables, with Postgres 15
    /// column lists and row filters where given.
    public func createPublicationStatement(named name: String, tables: [PublicationTable]) -> String {
        let items = tables.map { item in
            var text = "TABLE " + quoteIdentifier(item.table.schema) + "." + quoteIdentifier(item.table.table)
            if let columns = item.columns {
                text += " (" + columns.map { quoteIdentifier($0) }.joined(separator: ", ") + ")"
            }
            if let filter = item.rowFilter {
                text += " WHERE (" + filter + ")"
            }
            return text
        }
        return "CREATE PUBLICATION \(quoteIdentifier(name)) FOR " + items.joined(separator: ", ")
    }

    /// Creates the publication (the role must own the tables).
    public func createPublication(named name: String, tables: [PublicationTable]) throws(PostgresError) {
        try query(createPublicationStatement(named: name, tables: tables))
    }

    /// `pg_current_wal_lsn()` (on a primary).
    public func currentWALPosition() throws(PostgresError) -> LSN {
        let result = try query("SELECT pg_catalog.pg_current_wal_lsn()")
        guard let lsn = result.rows.first?.first.flatMap({ $0 }).flatMap({ LSN($0) }) else {
            throw PostgresError(kind: .protocolViolation, message: "pg_current_wal_lsn() returned no LSN")
        }
        return lsn
    }
}

/// Parses the text form of a one-dimensional `text[]` as the catalog returns it
/// (`{id,username,"first name"}`); used for catalog columns only.
enum PostgresArrayText {
    static func parseTextArray(_ text: String) -> [String] {
        var items: [String] = []
        var current = ""
        var inQuotes = false
        var escaped = false
        var sawQuote = false
        for character in text.dropFirst().dropLast() {
            if escaped { current.append(character); escaped = false; continue }
            switch character {
            case "\\" where inQuotes: escaped = true
            case "\"": inQuotes.toggle(); sawQuote = true
            case "," where !inQuotes:
                items.append(current); current = ""; sawQuote = false
            default: current.append(character)
            }
        }
        if !current.isEmpty || sawQuote { items.append(current) }
        return items
    }
}
