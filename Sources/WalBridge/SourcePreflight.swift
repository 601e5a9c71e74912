import EventMapping
import Logging
import PostgresReplication

extension PostgresError: PostgresErrorLike {}

/// What the database says about a configuration, after every check passed.
public struct PreparedSource: Sendable {
    public var identity: SystemIdentity
    /// The slot, as it is after any creation (nil in a dry run when it is missing).
    public var slot: SlotInfo?
    /// The Kafka key columns of every table mapping, resolved (`key:` or the primary key).
    public var keyColumns: [QualifiedName: [String]]
    /// Problems that do not stop the bridge but that the user should know about.
    public var warnings: [String]
    /// What a real run would create (dry run only).
    public var wouldCreate: [String]
}

/// Checks a configuration against the database and, unless it is a dry run,
/// creates the slot and the publication when they are missing (DESIGN: CLI,
/// exit codes; `validate` and `run` share these checks).
struct SourcePreflight {
    let configuration: BridgeConfiguration
    let logger: Logger
    /// Only look; create nothing (`walbridge validate`).
    let dryRun: Bool

    func prepare(_ connection: PostgresConnection) throws(BridgeError) -> PreparedSource {
        do {
            return try check(connection)
        } catch let error as BridgeError {
            throw error
        } catch let error as PostgresError {
            throw BridgeError(error, context: "")
        } catch {
            throw BridgeError(.fatal, "\(error)")
        }
    }

    private func check(_ connection: PostgresConnection) throws -> PreparedSource {
        let identity = try connection.identifySystem()
        try connection.requireLogicalWALLevel()
        guard try connection.hasReplicationRight() else {
            throw BridgeError(.configuration,
                "role '\(connection.user)' lacks the REPLICATION attribute; run ALTER ROLE \(connection.quoteIdentifier(connection.user)) REPLICATION as a superuser (see sql/walbridge-setup.sql)")
        }
        var warnings: [String] = []
        var wouldCreate: [String] = []
        var keyColumns: [QualifiedName: [String]] = [:]
        var publicationTables: [PublicationTable] = []

        for mapping in configuration.mappings {
            let where_ = "\(configuration.source): mappings[\(mapping.index)]"
            switch mapping {
            case .table(let tableMapping):
                let table = try requireTable(tableMapping.table, connection, where_)
                try requireColumns(tableMapping.fields.map(\.column), of: table, tableMapping.table, where_, key: "fields")
                let key: [String]
                if let configured = tableMapping.key {
                    try requireColumns(configured, of: table, tableMapping.table, where_, key: "key")
                    key = configured
                } else {
                    key = table.primaryKey
                    guard !key.isEmpty else {
                        throw BridgeError(.configuration,
                            "\(where_): table \(tableMapping.table) has no primary key; add `key: [column, ...]` to the mapping naming the columns that identify a row")
                    }
                }
                for column in key where tableMapping.field(forColumn: column) == nil {
                    throw BridgeError(.configuration,
                        "\(where_).key: key column '\(column)' of \(tableMapping.table) is not in `fields`; add it (for example `\(column): \(column)`) so the Kafka key can be published")
                }
                keyColumns[tableMapping.table] = key
                if table.replicaIdentity == "n", tableMapping.events.update != nil || tableMapping.events.delete != nil {
                    warnings.append("\(tableMapping.table) has REPLICA IDENTITY NOTHING: Postgres rejects UPDATE and DELETE on it while it is published; use DEFAULT or FULL")
                }
                guard try connection.canSelect(QualifiedTable(schema: tableMapping.table.schema, name: tableMapping.table.table)) else {
                    throw BridgeError(.configuration,
                        "\(where_): role '\(connection.user)' may not SELECT from \(tableMapping.table); GRANT SELECT ON \(tableMapping.table.sqlQuoted) TO \(connection.quoteIdentifier(connection.user))")
                }
                let columns = orderedUnique(key + tableMapping.fields.map(\.column))
                publicationTables.append(PublicationTable(
                    table: QualifiedTable(schema: tableMapping.table.schema, name: tableMapping.table.table),
                    columns: columns, rowFilter: tableMapping.rowFilter))
            case .outbox(let outbox):
                let table = try requireTable(outbox.table, connection, where_)
                let columns = [outbox.columns.aggregateType, outbox.columns.aggregateID, outbox.columns.eventType, outbox.columns.payload]
                try requireColumns(columns, of: table, outbox.table, where_, key: "outbox")
                publicationTables.append(PublicationTable(
                    table: QualifiedTable(schema: outbox.table.schema, name: outbox.table.table),
                    columns: orderedUnique(table.primaryKey + columns), rowFilter: outbox.rowFilter))
            case .message:
                continue
            }
        }

        try checkPublication(connection, tables: publicationTables, wouldCreate: &wouldCreate)

        var slot = try connection.slot(named: configuration.postgres.slot)
        if let existing = slot {
            guard existing.slotType == "logical", existing.plugin == "pgoutput" else {
                throw BridgeError(.configuration,
                    "replication slot '\(existing.name)' exists but is a \(existing.slotType) slot with plugin '\(existing.plugin ?? "none")'; WalBridge needs a logical pgoutput slot: set postgres.slot to another name, or drop it with `walbridge slot drop`")
            }
            guard existing.database == identity.database else {
                throw BridgeError(.configuration,
                    "replication slot '\(existing.name)' belongs to database '\(existing.database ?? "?")', not '\(identity.database)'; use another postgres.slot name")
            }
            if existing.walStatus == "lost" {
                throw BridgeError(.configuration,
                    "replication slot '\(existing.name)' has lost required WAL (wal_status=lost, max_slot_wal_keep_size exceeded); drop it with `walbridge slot drop` and backfill with `walbridge snapshot`")
            }
        } else if dryRun {
            wouldCreate.append("replication slot '\(configuration.postgres.slot)' (pgoutput)")
        } else {
            let point = try connection.createLogicalSlot(named: configuration.postgres.slot)
            logger.info("created replication slot", metadata: ["slot": "\(configuration.postgres.slot)", "lsn": "\(point)"])
            slot = try connection.slot(named: configuration.postgres.slot)
        }
        return PreparedSource(identity: identity, slot: slot, keyColumns: keyColumns, warnings: warnings, wouldCreate: wouldCreate)
    }

    private func checkPublication(_ connection: PostgresConnection, tables: [PublicationTable], wouldCreate: inout [String]) throws {
        let name = configuration.postgres.publication
        guard !tables.isEmpty || configuration.messageMappings.isEmpty == false else { return }
        guard let publication = try connection.publication(named: name) else {
            guard !tables.isEmpty else { return }
            let statement = connection.createPublicationStatement(named: name, tables: tables)
            if dryRun {
                wouldCreate.append("publication '\(name)': \(statement)")
                return
            }
            do {
                try connection.createPublication(named: name, tables: tables)
            } catch {
                guard error.sqlState == "42501" else { throw error }
                throw BridgeError(.configuration,
                    "publication '\(name)' does not exist and role '\(connection.user)' may not create it (\(error.message)); run as the tables' owner: \(statement)")
            }
            logger.info("created publication", metadata: ["publication": "\(name)", "tables": "\(tables.map(\.table.description))"])
            return
        }
        for item in tables {
            let published: [String]
            if let columns = publication.tables[item.table] {
                published = columns
            } else {
                throw BridgeError(.configuration,
                    "publication '\(name)' does not publish \(item.table); run ALTER PUBLICATION \(connection.quoteIdentifier(name)) ADD TABLE \(connection.quoteIdentifier(item.table.schema)).\(connection.quoteIdentifier(item.table.name)) as the table's owner, or set postgres.publication to a publication that does")
            }
            let missing = (item.columns ?? []).filter { !published.isEmpty && !published.contains($0) }
            if !missing.isEmpty {
                throw BridgeError(.configuration,
                    "publication '\(name)' publishes \(item.table) without the mapped column(s) \(missing.joined(separator: ", ")); add them to its column list (ALTER PUBLICATION … SET TABLE …) or remove them from the mapping")
            }
        }
        if !(publication.publishesInsert && publication.publishesUpdate && publication.publishesDelete) {
            logger.warning("publication does not publish every operation", metadata: [
                "publication": "\(name)", "insert": "\(publication.publishesInsert)",
                "update": "\(publication.publishesUpdate)", "delete": "\(publication.publishesDelete)",
            ])
        }
    }

    private func requireTable(_ name: QualifiedName, _ connection: PostgresConnection, _ where_: String) throws -> CatalogTable {
        guard let table = try connection.table(QualifiedTable(schema: name.schema, name: name.table)) else {
            throw BridgeError(.configuration,
                "\(where_).table: table \(name) does not exist in database '\(try connection.identifySystem().database)'; check the name (schema.table) or create the table")
        }
        return table
    }

    private func requireColumns(_ columns: [String], of table: CatalogTable, _ name: QualifiedName, _ where_: String, key: String) throws {
        let existing = Set(table.columns.map(\.name))
        for column in columns where !existing.contains(column) {
            let suggestion = Levenshtein.closest(to: column, in: table.columns.map(\.name))?.candidate
            throw BridgeError(.configuration,
                "\(where_).\(key): table \(name) has no column '\(column)'" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""))
        }
    }

    private func orderedUnique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}
