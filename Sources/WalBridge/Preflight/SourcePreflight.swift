import Configuration
import EventMapping
import Logging
import PostgresReplication

/// Checks a configuration against the database and, unless it is a dry run,
/// creates the slot and the publication when they are missing (docs/operations.md,
/// "`walbridge validate`" and "Exit status"; `validate` and `run` share these checks).
struct SourcePreflight {
    let configuration: BridgeConfiguration
    let logger: Logger
    /// Only look; create nothing (`walbridge validate`).
    let dryRun: Bool
    /// Create the slot when it is missing. False when changes were already
    /// delivered from a slot (a checkpoint exists): then a missing slot is a
    /// gap for `Bridge` to refuse, never a slot to create silently.
    var createMissingSlot = true

    /// Connects (replication session) and runs every check without creating
    /// anything: what `validate` and `schema` start with.
    static func dryRun(_ configuration: BridgeConfiguration, logger: Logger) throws(BridgeError) -> (PostgresConnection, PreparedSource) {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: configuration.postgres.url, replication: true)
        } catch {
            throw BridgeError(error, context: "cannot connect to Postgres", retryable: false)
        }
        let prepared = try SourcePreflight(configuration: configuration, logger: logger, dryRun: true).prepare(connection)
        return (connection, prepared)
    }

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
        if let refusal = connection.version.unsupportedError { throw refusal }
        let identity = try connection.identifySystem()
        try connection.requireLogicalWALLevel()
        guard try connection.hasReplicationRight() else {
            throw BridgeError(code: .postgresRefused, kind: .configuration, message:
                "role '\(connection.user)' lacks the REPLICATION attribute; run ALTER ROLE \(connection.quoteIdentifier(connection.user)) REPLICATION as a superuser (see sql/walbridge-setup.sql)")
        }
        var warnings: [String] = []
        var wouldCreate: [String] = []
        var keyColumns: [QualifiedName: [String]] = [:]
        var publicationTables: [PublicationTable] = []
        /// Tables under REPLICA IDENTITY FULL: Postgres 15 rejects their UPDATE and
        /// DELETE when a column list leaves out a replica-identity column, so a
        /// publication WalBridge creates lists none for them (all columns are sent,
        /// only the mapped ones published).
        var fullIdentityTables: Set<QualifiedName> = []
        let types = TypeCatalog(connection)
        var columns: [QualifiedName: [String: ColumnDescription]] = [:]

        for mapping in configuration.mappings {
            let where_ = "\(configuration.source): mappings[\(mapping.index)]"
            switch mapping {
            case .table(let tableMapping):
                let table = try requireTable(tableMapping.table, connection, where_)
                try requireColumns(tableMapping.fields.map(\.column), of: table, tableMapping.table, where_, key: "fields")
                try requireColumns(tableMapping.ruleOnlyColumns, of: table, tableMapping.table, where_, key: "events.update")
                if tableMapping.needsOldRow && table.replicaIdentity != "f" {
                    let rules = tableMapping.events.updateRules.contains { !$0.matchesEveryUpdate }
                    let what = [rules ? "events.update rules with when" : nil, tableMapping.skipUnchanged ? "skip_unchanged" : nil]
                        .compactMap { $0 }.joined(separator: " and ")
                    throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                        "\(where_): \(what) compare the old and new row, but table \(tableMapping.table) has REPLICA IDENTITY \(Self.identityName(table.replicaIdentity)), so Postgres does not send the old row; run ALTER TABLE \(tableMapping.table.sqlQuoted) REPLICA IDENTITY FULL")
                }
                let key: [String]
                if let configured = tableMapping.key {
                    try requireColumns(configured, of: table, tableMapping.table, where_, key: "key")
                    key = configured
                } else {
                    key = table.primaryKey
                    guard !key.isEmpty else {
                        throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                            "\(where_): table \(tableMapping.table) has no primary key; add `key: [column, ...]` to the mapping naming the columns that identify a row")
                    }
                }
                for column in key where tableMapping.field(forColumn: column) == nil {
                    throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                        "\(where_).key: key column '\(column)' of \(tableMapping.table) is not in `fields`; add it (for example `\(column): \(column)`) so the Kafka key can be published")
                }
                keyColumns[tableMapping.table] = key
                let described = try types.describe(tableMapping.table) ?? [:]
                columns[tableMapping.table] = described
                let identityColumns = try types.replicaIdentityColumns(
                    tableMapping.table, identity: table.replicaIdentity, allColumns: table.columns.map(\.name))
                try checkRowFilter(tableMapping.rowFilter, table: table, identityColumns: identityColumns, where_: where_)
                warnings += replicaIdentityWarnings(
                    tableMapping, identity: table.replicaIdentity, identityColumns: identityColumns, key: key, columns: described)
                guard try connection.canSelect(tableMapping.table) else {
                    throw BridgeError(code: .postgresRefused, kind: .configuration, message:
                        "\(where_): role '\(connection.user)' may not SELECT from \(tableMapping.table); GRANT SELECT ON \(tableMapping.table.sqlQuoted) TO \(connection.quoteIdentifier(connection.user))")
                }
                // The rules' columns too (`deleted_at`): the mapper reads them, unpublished.
                let columns = orderedUnique(key + tableMapping.readColumns)
                publicationTables.append(PublicationTable(
                    table: tableMapping.table,
                    columns: columns, rowFilter: tableMapping.rowFilter))
                if table.replicaIdentity == "f" { fullIdentityTables.insert(publicationTables[publicationTables.count - 1].table) }
            case .outbox(let outbox):
                let table = try requireTable(outbox.table, connection, where_)
                columns[outbox.table] = try types.describe(outbox.table) ?? [:]
                let columns = [outbox.columns.aggregateType, outbox.columns.aggregateID, outbox.columns.eventType, outbox.columns.payload]
                try requireColumns(columns, of: table, outbox.table, where_, key: "outbox")
                let identityColumns = try types.replicaIdentityColumns(
                    outbox.table, identity: table.replicaIdentity, allColumns: table.columns.map(\.name))
                try checkRowFilter(outbox.rowFilter, table: table, identityColumns: identityColumns, where_: where_)
                publicationTables.append(PublicationTable(
                    table: outbox.table,
                    columns: orderedUnique(table.primaryKey + columns), rowFilter: outbox.rowFilter))
            case .message:
                continue
            }
        }

        let standby = try connection.isInRecovery()
        try checkServerRole(connection, standby: standby)
        try checkPublication(connection, tables: publicationTables, standby: standby, fullIdentityTables: fullIdentityTables, wouldCreate: &wouldCreate)

        var slot = try connection.slot(named: configuration.postgres.slot)
        var createdSlotAt: LSN?
        if let existing = slot {
            guard existing.slotType == "logical", existing.plugin == "pgoutput" else {
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                    "replication slot '\(existing.name)' exists but is a \(existing.slotType) slot with plugin '\(existing.plugin ?? "none")'; WalBridge needs a logical pgoutput slot: set postgres.slot to another name, or drop it with `walbridge slot drop`")
            }
            guard existing.database == identity.database else {
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                    "replication slot '\(existing.name)' belongs to database '\(existing.database ?? "?")', not '\(identity.database)'; use another postgres.slot name")
            }
            if existing.walStatus == "lost" {
                throw BridgeError(code: .slotGap, kind: .configuration, message:
                    "replication slot '\(existing.name)' has lost required WAL (wal_status=lost, max_slot_wal_keep_size exceeded); drop it with `walbridge slot drop` and backfill with `walbridge snapshot`")
            }
            // `synced` stays true after a promotion; only on a standby is the copy unusable.
            if existing.synced == true && standby {
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                    "replication slot '\(existing.name)' on this standby is a synchronised copy of the primary's failover slot, usable only once the standby is promoted; point postgres.url at the primary (or list both hosts with target_session_attrs=primary, so WalBridge follows the promotion)")
            }
            if configuration.postgres.failoverSlot && existing.failover == false {
                if dryRun {
                    wouldCreate.append("FAILOVER on replication slot '\(existing.name)' (ALTER_REPLICATION_SLOT, so standbys keep a copy)")
                } else {
                    try connection.enableFailover(slot: existing.name)
                    logger.info("replication slot is now a failover slot", metadata: ["slot": "\(existing.name)"])
                    slot = try connection.slot(named: existing.name)
                }
            }
        } else if dryRun {
            wouldCreate.append("replication slot '\(configuration.postgres.slot)' (pgoutput\(configuration.postgres.failoverSlot ? ", FAILOVER" : ""))"
                + (standby ? "; on a standby this waits for the primary to log a running-transactions record: run SELECT pg_log_standby_snapshot() on the primary to make it immediate" : ""))
        } else if createMissingSlot {
            if standby {
                logger.info("creating the replication slot on a standby: this waits until the primary logs a running-transactions record (run SELECT pg_log_standby_snapshot() on the primary to make it immediate)",
                            metadata: ["slot": "\(configuration.postgres.slot)"])
            }
            let point = try connection.createLogicalSlot(named: configuration.postgres.slot, failover: configuration.postgres.failoverSlot)
            logger.info("created replication slot", metadata: ["slot": "\(configuration.postgres.slot)", "lsn": "\(point)"])
            slot = try connection.slot(named: configuration.postgres.slot)
            createdSlotAt = point
        }
        if configuration.postgres.failoverSlot {
            warnings += try failoverFindings(connection)
        }
        let baseTypes = try types.baseTypes(of: columns.values.flatMap { $0.values.map(\.typeOID) })
        var prepared = PreparedSource(identity: identity, slot: slot, createdSlotAt: createdSlotAt, keyColumns: keyColumns, warnings: warnings,
                                      wouldCreate: wouldCreate, columns: columns, valueDecoder: PostgresValueDecoder(baseTypes: baseTypes))
        prepared.isStandby = standby
        return prepared
    }

    /// Refuses what this server's version or role cannot do: failover slots
    /// before 17 or on a standby, decoding on a standby before 16.
    private func checkServerRole(_ connection: PostgresConnection, standby: Bool) throws {
        let version = connection.version
        if configuration.postgres.failoverSlot {
            guard version.supportsFailoverSlots else {
                throw BridgeError(code: .configurationInvalid, kind: .configuration, message:
                    "\(configuration.source): postgres.failover_slot needs Postgres 17 or later, and this server is \(version); remove failover_slot (on \(version.major) a logical slot does not survive a failover: docs/operations.md, \"Failover\", says what to do)")
            }
            if standby {
                throw BridgeError(code: .configurationInvalid, kind: .configuration, message:
                    "\(configuration.source): postgres.url points at a hot standby while postgres.failover_slot is on; a failover slot is created on the primary, and its copy on the standby is usable only after promotion: point postgres.url at the primary, or list both hosts (postgres://USER@PRIMARY,STANDBY/DB?target_session_attrs=primary)")
            }
        }
        if standby && !version.supportsStandbyDecoding {
            throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                "postgres.url points at a hot standby running Postgres \(version), which cannot decode logically (Postgres 16 and later can); point postgres.url at the primary")
        }
    }

    /// What is missing for the failover slot to be safe (see `FailoverCheck`):
    /// the primary's settings always, and in `validate` the standbys a
    /// multi-host URL lists.
    private func failoverFindings(_ connection: PostgresConnection) throws -> [String] {
        let named = try connection.setting("synchronized_standby_slots")
        let physical = try connection.query("SELECT slot_name, active FROM pg_catalog.pg_replication_slots WHERE slot_type = 'physical'")
        var slots: [String: Bool] = [:]
        for row in physical.rows { if let name = row[0] { slots[name] = row[1] == "t" } }
        var findings = FailoverCheck.primaryFindings(synchronizedStandbySlots: named, physicalSlots: slots)
        guard dryRun else { return findings }
        var checkedStandby = false
        let hosts = PostgresConnection.hostCount(url: configuration.postgres.url)
        for index in 0..<hosts where hosts > 1 {
            guard let other = try? PostgresConnection(url: configuration.postgres.url, host: index, replication: false),
                  (try? other.isInRecovery()) == true
            else { continue }
            checkedStandby = true
            let result = try other.query("""
                SELECT name, setting FROM pg_catalog.pg_settings
                WHERE name IN ('sync_replication_slots', 'hot_standby_feedback', 'primary_slot_name', 'primary_conninfo')
                """)
            var settings: [String: String] = [:]
            for row in result.rows { if let name = row[0] { settings[name] = row[1] ?? "" } }
            findings += FailoverCheck.standbyFindings(
                syncReplicationSlots: settings["sync_replication_slots"], hotStandbyFeedback: settings["hot_standby_feedback"],
                primarySlotName: settings["primary_slot_name"], primaryConninfo: settings["primary_conninfo"])
                .map { "standby \(index + 1) of postgres.url: \($0)" }
        }
        if !checkedStandby {
            findings.append("no standby was checked: list the standby in postgres.url after the primary (postgres://USER@PRIMARY,STANDBY/DB?target_session_attrs=primary) so validate can check its sync_replication_slots, hot_standby_feedback, primary_slot_name and primary_conninfo, and WalBridge follows it when it is promoted")
        }
        return findings
    }

    private func checkPublication(
        _ connection: PostgresConnection, tables: [PublicationTable], standby: Bool, fullIdentityTables: Set<QualifiedName>,
        wouldCreate: inout [String]
    ) throws {
        let name = configuration.postgres.publication
        guard !tables.isEmpty || configuration.messageMappings.isEmpty == false else { return }
        guard let publication = try connection.publication(named: name) else {
            guard !tables.isEmpty else { return }
            let tables = tables.map { item in
                fullIdentityTables.contains(item.table) ? PublicationTable(table: item.table, columns: nil, rowFilter: item.rowFilter) : item
            }
            let statement = connection.createPublicationStatement(named: name, tables: tables)
            if standby {
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                    "publication '\(name)' does not exist, and postgres.url points at a hot standby, which cannot create it; create it on the primary (it replicates to the standby): \(statement)")
            }
            if dryRun {
                wouldCreate.append("publication '\(name)': \(statement)")
                return
            }
            do {
                try connection.createPublication(named: name, tables: tables)
            } catch {
                guard error.sqlState == "42501" else { throw error }
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
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
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                    "publication '\(name)' does not publish \(item.table); run ALTER PUBLICATION \(connection.quoteIdentifier(name)) ADD TABLE \(connection.quoteIdentifier(item.table.schema)).\(connection.quoteIdentifier(item.table.table)) as the table's owner, or set postgres.publication to a publication that does")
            }
            let missing = (item.columns ?? []).filter { !published.isEmpty && !published.contains($0) }
            if !missing.isEmpty {
                throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
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
        guard let table = try connection.table(name) else {
            throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                "\(where_).table: table \(name) does not exist in database '\(try connection.identifySystem().database)'; check the name (schema.table) or create the table")
        }
        return table
    }

    /// `DEFAULT`, `USING INDEX`, `FULL` or `NOTHING` for `pg_class.relreplident`.
    static func identityName(_ identity: Character) -> String {
        switch identity {
        case "f": "FULL"
        case "i": "USING INDEX"
        case "n": "NOTHING"
        default: "DEFAULT"
        }
    }

    private func requireColumns(_ columns: [String], of table: CatalogTable, _ name: QualifiedName, _ where_: String, key: String) throws {
        let existing = Set(table.columns.map(\.name))
        for column in columns where !existing.contains(column) {
            let suggestion = Levenshtein.closest(to: column, in: table.columns.map(\.name))?.candidate
            throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
                "\(where_).\(key): table \(name) has no column '\(column)'" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""))
        }
    }

    /// Postgres 15 rejects UPDATE and DELETE on a table whose publication row
    /// filter uses columns outside the replica identity: refuse such a filter
    /// (exit 2) before anything is created, so the source table keeps working.
    private func checkRowFilter(_ filter: String?, table: CatalogTable, identityColumns: [String], where_: String) throws {
        guard let filter, table.replicaIdentity != "f" else { return }
        let used = RowFilterScanner.identifiers(in: filter)
        let outside = table.columns.map(\.name).filter { used.contains($0) && !identityColumns.contains($0) }
        guard !outside.isEmpty else { return }
        let name = QualifiedName(schema: table.schema, table: table.name)
        let identity = identityColumns.isEmpty ? "no columns" : identityColumns.joined(separator: ", ")
        throw BridgeError(code: .sourceMismatch, kind: .configuration, message:
            "\(where_).where: the row filter uses \(outside.joined(separator: ", ")), which is not part of the replica identity of \(name) (\(identity)); Postgres would then reject every UPDATE and DELETE on the table. Filter on replica-identity columns only, or run ALTER TABLE \(name.sqlQuoted) REPLICA IDENTITY FULL first")
    }

    /// What the table's replica identity cannot give this mapping.
    private func replicaIdentityWarnings(
        _ mapping: TableMapping, identity: Character, identityColumns: [String], key: [String], columns: [String: ColumnDescription]
    ) -> [String] {
        let table = mapping.table
        var warnings: [String] = []
        let publishesOld = mapping.events.publishesUpdates || mapping.events.delete != nil
        if identity == "n" {
            if publishesOld {
                warnings.append("\(table) has REPLICA IDENTITY NOTHING: Postgres rejects UPDATE and DELETE on it while it is published; use DEFAULT or FULL")
            }
            return warnings
        }
        guard identity != "f" else { return warnings }
        let identityName = identity == "i" ? "USING INDEX" : "DEFAULT"
        let keyOutside = key.filter { !identityColumns.contains($0) }
        if mapping.events.delete != nil, !keyOutside.isEmpty {
            warnings.append("\(table): key column(s) \(keyOutside.joined(separator: ", ")) are not in the replica identity (\(identityName)), so delete events cannot be keyed and will fail to map; use key columns of the replica identity, or ALTER TABLE \(table.sqlQuoted) REPLICA IDENTITY FULL")
        }
        var limits: [String] = []
        if mapping.events.publishesUpdates {
            limits.append("update events carry no `previous` and no `changedFields`")
            let toasted = mapping.fields.filter { columns[$0.column]?.toastable == true && !identityColumns.contains($0.column) }
            if !toasted.isEmpty {
                limits.append("an update that leaves a large (TOASTed) value of \(toasted.map(\.column).joined(separator: ", ")) unchanged does not carry it: the field is left out of `data` and listed in `unavailableFields`")
            }
        }
        if mapping.events.delete != nil, mapping.fields.contains(where: { !identityColumns.contains($0.column) }) {
            limits.append("delete events carry only \(identityColumns.joined(separator: ", "))")
        }
        if !limits.isEmpty {
            warnings.append("\(table) has REPLICA IDENTITY \(identityName) (\(identityColumns.joined(separator: ", "))): "
                + limits.joined(separator: "; ")
                + ". ALTER TABLE \(table.sqlQuoted) REPLICA IDENTITY FULL makes update and delete events complete, at the cost of more WAL")
        }
        return warnings
    }

    private func orderedUnique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}
