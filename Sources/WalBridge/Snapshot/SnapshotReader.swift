import EventMapping
import Foundation
import Logging
import PostgresReplication

/// What the reader needs to know about one table of a job.
struct SnapshotTablePlan: Sendable {
    var table: QualifiedName
    /// The pagination (and Kafka key) columns, in key order: keyset pagination
    /// walks the table in this order.
    var keyColumns: [String]
    /// The columns to read: the key, then the mapped columns. Never an
    /// unmapped column, so an excluded one cannot leak through a snapshot.
    var columns: [String]
    /// The mapping's publication row filter: the snapshot publishes only rows
    /// the stream would publish.
    var rowFilter: String?
    var chunkSize: Int
}

/// Reads a snapshot job's tables in key order, one chunk at a time, on its own
/// (ordinary) connection and thread, with DBLog's watermarks around each
/// chunk's SELECT: a low mark, the SELECT in a REPEATABLE READ transaction that
/// also records `pg_current_snapshot()`, the chunk handed to the pipeline, then
/// a high mark. The pipeline publishes the chunk when the high mark comes
/// through the replication stream, without the rows that changed meanwhile.
///
/// Both marks are transactional messages committed with
/// `synchronous_commit = on`, so each commit flushes the WAL and the walsender
/// sends the mark at once.
final class SnapshotReader: Sendable {
    private let url: String
    private let job: SnapshotState.Job
    private let plans: [SnapshotTablePlan]
    private let channel: SnapshotChannel
    private let session: UInt64
    private let valueDecoder: PostgresValueDecoder
    private let logger: Logger
    private let done = DispatchSemaphore(value: 0)

    init(url: String, job: SnapshotState.Job, plans: [SnapshotTablePlan], channel: SnapshotChannel,
         session: UInt64, valueDecoder: PostgresValueDecoder, logger: Logger) {
        self.url = url; self.job = job; self.plans = plans; self.channel = channel
        self.session = session; self.valueDecoder = valueDecoder; self.logger = logger
    }

    /// Starts reading on a new thread.
    func start() {
        let thread = Thread { [self] in
            do throws(BridgeError) {
                try read()
            } catch {
                if !channel.isCancelled { channel.fail(error) }
            }
            done.signal()
        }
        thread.name = "walbridge-snapshot"
        thread.start()
    }

    /// Stops the reader and waits up to `timeout` for its thread to end (it
    /// finishes the statement in progress first).
    func stop(timeout: TimeInterval = 10) {
        channel.cancel()
        _ = done.wait(timeout: .now() + timeout)
    }

    private func read() throws(BridgeError) {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: url, replication: false, applicationName: "walbridge-snapshot")
            try connection.query("SET synchronous_commit = on")
        } catch {
            throw BridgeError(error, context: "snapshot: cannot connect to Postgres")
        }
        var sequence = 0
        for (index, plan) in plans.enumerated() where !job.tables[index].done {
            var lastKey = job.tables[index].lastKey
            var registry: TypeRegistry?
            logger.info("snapshot: reading table", metadata: [
                "table": "\(plan.table)", "chunkSize": "\(plan.chunkSize)", "resumeAfterKey": "\(lastKey.map { "\($0)" } ?? "-")"])
            while !channel.isCancelled {
                sequence += 1
                let chunk: SnapshotChunk
                do {
                    try emit(.low, sequence: sequence, on: connection)
                    try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    let visibilityText = try connection.query("SELECT pg_current_snapshot()::text").rows.first?.first ?? nil
                    let rows = try connection.queryRowSet(selectStatement(plan, after: lastKey, connection: connection), parameters: lastKey ?? [])
                    try connection.query("COMMIT")
                    guard let visibilityText, let visibility = SnapshotVisibility(visibilityText) else {
                        throw BridgeError(.fatal, "snapshot: cannot read pg_current_snapshot() (\(visibilityText ?? "NULL"))")
                    }
                    if registry == nil { registry = try TypeCatalog(connection).registry(for: rows.columnTypes) }
                    chunk = try decode(rows, plan: plan, tableIndex: index, sequence: sequence,
                                       visibility: visibility, registry: registry!)
                } catch let error as BridgeError {
                    throw error
                } catch let error as PostgresError {
                    throw BridgeError(error, context: "snapshot of \(plan.table)")
                } catch {
                    throw BridgeError(.fatal, "snapshot of \(plan.table): \(error)")
                }
                guard channel.put(chunk) else { return }
                do {
                    try emit(.high, sequence: sequence, on: connection)
                } catch {
                    throw BridgeError(error, context: "snapshot of \(plan.table)")
                }
                if chunk.isLastOfTable { break }
                lastKey = chunk.lastKey
            }
        }
    }

    private func emit(_ mark: SnapshotWatermark.Mark, sequence: Int, on connection: PostgresConnection) throws(PostgresError) {
        let watermark = SnapshotWatermark(mark: mark, session: session, sequence: sequence)
        try connection.query("SELECT pg_logical_emit_message(true, $1, $2)", parameters: [SnapshotWatermark.prefix, watermark.content])
    }

    /// `SELECT <columns> FROM <table> WHERE (<key>) > ($1, …) AND <filters> ORDER BY <key> LIMIT <n>`.
    private func selectStatement(_ plan: SnapshotTablePlan, after lastKey: [String]?, connection: PostgresConnection) -> String {
        let key = plan.keyColumns.map { connection.quoteIdentifier($0) }
        var conditions: [String] = []
        if lastKey != nil {
            let parameters = (1...key.count).map { "$\($0)" }
            conditions.append("(\(key.joined(separator: ", "))) > (\(parameters.joined(separator: ", ")))")
        }
        if let rowFilter = plan.rowFilter { conditions.append("(\(rowFilter))") }
        if let filter = job.filter { conditions.append("(\(filter))") }
        var sql = "SELECT \(plan.columns.map { connection.quoteIdentifier($0) }.joined(separator: ", ")) FROM \(plan.table.sqlQuoted)"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY \(key.joined(separator: ", ")) LIMIT \(plan.chunkSize)"
        return sql
    }

    private func decode(
        _ rows: RowSet, plan: SnapshotTablePlan, tableIndex: Int, sequence: Int,
        visibility: SnapshotVisibility, registry: TypeRegistry
    ) throws(BridgeError) -> SnapshotChunk {
        let keySet = Set(plan.keyColumns)
        let relation = Relation(
            id: 0, schema: plan.table.schema, name: plan.table.table, replicaIdentity: .default,
            columns: rows.columnNames.indices.map { index in
                Relation.Column(name: rows.columnNames[index], typeOID: rows.columnTypes[index], typeModifier: -1,
                                isKey: keySet.contains(rows.columnNames[index]))
            })
        let keyIndexes = plan.keyColumns.map { column in rows.columnNames.firstIndex(of: column)! }
        var decoded: [Row] = []
        var undecodable: [(key: String, reason: String)] = []
        decoded.reserveCapacity(rows.rowCount)
        rowLoop: for rowIndex in 0..<rows.rowCount {
            var row: Row = []
            row.reserveCapacity(relation.columns.count)
            for (columnIndex, column) in relation.columns.enumerated() {
                do {
                    row.append(.value(try rows.value(rowIndex, columnIndex, decoder: valueDecoder, registry: registry)))
                } catch {
                    let key = keyIndexes.map { rows.text(rowIndex, $0) ?? "NULL" }.joined(separator: ", ")
                    undecodable.append((key, "cannot decode column '\(column.name)': \(error.reason)"))
                    continue rowLoop
                }
            }
            decoded.append(row)
        }
        let lastKey = rows.rowCount == 0 ? nil : keyIndexes.map { rows.text(rows.rowCount - 1, $0) ?? "" }
        return SnapshotChunk(
            session: session, sequence: sequence, tableIndex: tableIndex, relation: relation, rows: decoded,
            undecodable: undecodable, lastKey: lastKey, isLastOfTable: rows.rowCount < plan.chunkSize, visibility: visibility)
    }
}
