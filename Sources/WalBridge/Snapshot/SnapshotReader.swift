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
///
/// The reading is a `BackgroundService` of a `ServiceGroup` of its own: a
/// failure goes to the pipeline through the channel; `stop()` cancels the
/// channel and waits at most `ServiceGroup.defaultStopDeadline`.
final class SnapshotReader: Sendable {
    private let work: SnapshotReadWork
    private let group: ServiceGroup

    init(url: String, job: SnapshotState.Job, plans: [SnapshotTablePlan], channel: SnapshotChannel,
         session: UInt64, valueDecoder: PostgresValueDecoder, logger: Logger) {
        work = SnapshotReadWork(url: url, job: job, plans: plans, channel: channel, session: session,
                                valueDecoder: valueDecoder, logger: logger)
        group = ServiceGroup(label: "snapshot", logger: logger) { error in
            if !channel.isCancelled { channel.fail(error) }
        }
    }

    /// Starts reading on a new thread.
    func start() {
        group.start([work])
    }

    /// Stops the reader and waits for its thread to end (it finishes the
    /// statement in progress first), at most `ServiceGroup.defaultStopDeadline`.
    func stop() {
        group.stop()
    }
}

/// The snapshot reader's thread: reads the job's tables chunk by chunk until
/// done or cancelled.
private struct SnapshotReadWork: BackgroundService {
    let name = "walbridge-snapshot"
    let url: String
    let job: SnapshotState.Job
    let plans: [SnapshotTablePlan]
    let channel: SnapshotChannel
    let session: UInt64
    let valueDecoder: PostgresValueDecoder
    let logger: Logger

    /// A stop cancels the channel: the reader ends after the statement in progress.
    func wake() {
        channel.cancel()
    }

    func run(_ stop: StopToken) throws(BridgeError) {
        do {
            try read()
        } catch {
            // A failure after a stop is the stop's doing, not news.
            guard !stop.isRequested, !channel.isCancelled else { return }
            throw error
        }
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
