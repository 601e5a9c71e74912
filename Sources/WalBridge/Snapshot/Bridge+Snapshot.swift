import Configuration
import EventMapping
import Foundation
import Logging
import PostgresReplication

extension Bridge {
    /// True when a backfill job is still unfinished (after `run()` returned on a stop request).
    public var snapshotInProgress: Bool { snapshotState?.job != nil }

    /// The tables a `walbridge snapshot` asks for, checked against the
    /// configuration: each must be a table mapping with a snapshot event.
    /// An empty list means every table mapping.
    /// - Throws: a configuration `BridgeError` (exit 2) naming the problem and the mapped tables.
    public static func snapshotTables(_ requested: [QualifiedName], configuration: BridgeConfiguration) throws(BridgeError) -> [QualifiedName] {
        let mapped = configuration.tableMappings.map(\.table)
        let mappedList = mapped.isEmpty ? "none" : mapped.map(\.description).joined(separator: ", ")
        let tables = requested.isEmpty ? mapped : requested
        guard !tables.isEmpty else {
            throw BridgeError(.configuration, "\(configuration.source) has no table mappings; a snapshot publishes the rows of mapped tables")
        }
        for table in tables {
            guard let mapping = configuration.tableMappings.first(where: { $0.table == table }) else {
                if configuration.outboxMappings.contains(where: { $0.table == table }) {
                    throw BridgeError(.configuration,
                        "\(table) is an outbox mapping: its rows were published as events when they were inserted, so there is nothing to backfill; snapshot a table mapping instead (mapped tables: \(mappedList))")
                }
                throw BridgeError(.configuration,
                    "\(table) is not mapped in \(configuration.source), so its rows have no event to become; add a table mapping for it, or pick one of the mapped tables: \(mappedList)")
            }
            guard mapping.snapshotEventType != nil else {
                throw BridgeError(.configuration,
                    "\(configuration.source): mappings[\(mapping.index)] (\(table)) has no insert event and no snapshot.event, so its rows have no event type; set snapshot.event (for example UserSnapshotted)")
            }
        }
        var seen = Set<QualifiedName>()
        return tables.filter { seen.insert($0).inserted }
    }

    /// The backfill state of this session: on the first session, the
    /// checkpoint's, plus a new job when `walbridge snapshot` asks for one or a
    /// mapping's `snapshot: initial` has not run yet; later sessions continue
    /// with what the previous one delivered.
    /// - Parameter stored: the backfill state in the checkpoint file (first session).
    func snapshotState(connection: PostgresConnection, stored: SnapshotState?) throws(BridgeError) -> SnapshotState {
        if let snapshotState { return snapshotState }
        var state = stored ?? SnapshotState()
        if let job = state.job, let gone = job.tables.first(where: { table in
            !table.done && !configuration.tableMappings.contains { $0.table == table.table }
        }) {
            logger.warning("the checkpoint holds an unfinished snapshot of a table that is no longer mapped; dropping that snapshot (run `walbridge snapshot` again to backfill)", metadata: [
                "table": "\(gone.table)", "job": "\(job.id)"])
            state.job = nil
        }
        if let request = options.snapshot {
            let tables = try Self.snapshotTables(request.tables, configuration: configuration)
            if let job = state.job {
                guard job.matches(tables: tables, filter: request.filter) else {
                    let described = job.tables.map(\.table.description).joined(separator: " ")
                    throw BridgeError(.configuration,
                        "an unfinished snapshot of \(described)\(job.filter.map { " --where '\($0)'" } ?? "") (started \(job.startedAt.formatted(.iso8601))) is in checkpoint \(store.path); finish it first: run `walbridge snapshot` with those tables\(job.filter == nil ? "" : " and that --where") (or `walbridge run`, which resumes it), then ask for this one")
                }
                logger.info("snapshot: resuming the unfinished job", metadata: ["job": "\(job.id)", "rowsDone": "\(job.rowsDone)"])
            } else {
                state.job = try newJob(origin: .command, tables: tables, filter: request.filter, connection: connection)
            }
        } else if state.job == nil {
            let initial = configuration.tableMappings
                .filter { $0.snapshot.mode == .initial && !state.completedInitial.contains($0.table) }
                .map(\.table)
            if !initial.isEmpty {
                state.job = try newJob(origin: .initial, tables: initial, filter: nil, connection: connection)
            }
        }
        snapshotState = state
        return state
    }

    /// Checks a request from `walbridge snapshot` (written next to the
    /// checkpoint while this bridge streams) and makes its job, on a short
    /// ordinary connection. Throws (refusing it) with the reason for the user.
    /// Runs on a thread of its own (`SnapshotSession`), never on the pipeline
    /// thread: connecting may take up to `connect_timeout`.
    static func acceptSnapshotRequest(
        _ request: SnapshotRequestFile.Request, configuration: BridgeConfiguration, standbyWithoutPrimary: Bool, logger: Logger
    ) throws(BridgeError) -> SnapshotState.Job {
        let tables = try Self.snapshotTables(request.tables, configuration: configuration)
        if standbyWithoutPrimary { throw BridgeError(.configuration, Self.standbySnapshotRefusal(tables.map(\.description))) }
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: configuration.postgres.primaryURL ?? configuration.postgres.url, replication: false,
                                                applicationName: "walbridge-snapshot")
        } catch {
            throw BridgeError(error, context: "cannot connect to Postgres to start the snapshot")
        }
        return try newJob(origin: .command, tables: tables, filter: request.filter, connection: connection, id: request.id, logger: logger)
    }

    /// Why a backfill cannot run while decoding on a standby without `postgres.primary_url`.
    static func standbySnapshotRefusal(_ tables: [String]) -> String {
        "a snapshot of \(tables.joined(separator: ", ")) needs its watermarks written on the primary, and postgres.url points at a hot standby (read-only); set postgres.primary_url to the primary (postgres://USER:PASSWORD@PRIMARY:5432/DB), or run the snapshot against the primary"
    }

    /// What the reader needs per table of `job`.
    func snapshotPlans(_ job: SnapshotState.Job, keyColumns: [QualifiedName: [String]]) -> [SnapshotTablePlan] {
        job.tables.map { progress in
            let mapping = configuration.tableMappings.first { $0.table == progress.table }
            let key = keyColumns[progress.table] ?? mapping?.key ?? []
            var columns = key
            for field in mapping?.fields ?? [] where !columns.contains(field.column) { columns.append(field.column) }
            return SnapshotTablePlan(table: progress.table, keyColumns: key, columns: columns, rowFilter: mapping?.rowFilter,
                                     chunkSize: mapping?.snapshot.chunkSize ?? SnapshotSettings().chunkSize)
        }
    }

    func newJob(
        origin: SnapshotState.Origin, tables: [QualifiedName], filter: String?, connection: PostgresConnection
    ) throws(BridgeError) -> SnapshotState.Job {
        try Self.newJob(origin: origin, tables: tables, filter: filter, connection: connection, id: UUID().uuidString.lowercased(), logger: logger)
    }

    static func newJob(
        origin: SnapshotState.Origin, tables: [QualifiedName], filter: String?, connection: PostgresConnection,
        id: String, logger: Logger
    ) throws(BridgeError) -> SnapshotState.Job {
        var progress: [SnapshotState.TableProgress] = []
        for table in tables {
            if let filter {
                do {
                    try connection.query("SELECT 1 FROM \(table.sqlQuoted) WHERE (\(filter)) LIMIT 0")
                } catch {
                    throw BridgeError(.configuration,
                        "--where '\(filter)' does not work on \(table): \(error.message); write a condition on that table's columns")
                }
            }
            progress.append(SnapshotState.TableProgress(table: table, estimatedRows: estimatedRows(table, connection: connection)))
        }
        let job = SnapshotState.Job(id: id, origin: origin, filter: filter, tables: progress)
        logger.info("snapshot: new job", metadata: [
            "job": "\(job.id)", "origin": "\(origin.rawValue)", "tables": "\(tables.map(\.description))",
            "estimatedRows": "\(job.estimatedRows)"])
        return job
    }

    /// `pg_class.reltuples`; for a table never analyzed (-1), an exact count
    /// when the table is under 1 GiB; else -1 (unknown).
    private static func estimatedRows(_ table: QualifiedName, connection: PostgresConnection) -> Int {
        let literal = connection.quoteLiteral(table.sqlQuoted)
        guard let row = try? connection.query(
            "SELECT c.reltuples::bigint::text, pg_relation_size(c.oid)::text FROM pg_class c WHERE c.oid = \(literal)::regclass").rows.first,
            let estimate = Int(row[0] ?? ""), let size = Int(row[1] ?? "")
        else { return -1 }
        if estimate >= 0 { return estimate }
        guard size < 1 << 30, let counted = try? connection.query("SELECT count(*)::text FROM \(table.sqlQuoted)").rows.first,
              let count = Int(counted[0] ?? "")
        else { return -1 }
        return count
    }
}
