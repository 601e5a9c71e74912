import Configuration
import EventMapping
import Foundation
import PostgresReplication

/// The pipeline's side of a backfill (DBLog's algorithm): records which keys
/// the stream changed in which transaction, and when a chunk's high watermark
/// comes through the stream, publishes the chunk without the rows whose key a
/// transaction changed that the chunk's SELECT did not see. Its progress
/// becomes part of the checkpoint only once the watermark passes the chunk.
///
/// Why dropping by visibility is enough: a chunk row is published at the
/// position of its high mark. A transaction the SELECT saw is already in the
/// row's state, so the row never goes back behind it. A transaction it did not
/// see either comes through the stream before the high mark (its keys are
/// recorded here, and the row is dropped: the stream carries the newer state)
/// or after it (its event follows the row). Keys are recorded from the start of
/// every session with a job, so every transaction that could be unseen by a
/// chunk of this session is recorded; records of transactions older than a
/// chunk's `xmin` are seen by every later SELECT and are forgotten.
///
/// Lives on the pipeline thread; not `Sendable`.
final class SnapshotCoordinator {
    let channel: SnapshotChannel
    private var session: UInt64
    /// Progress including chunks handed to Kafka but not yet acknowledged.
    private var working: SnapshotState
    /// Progress whose chunks are all acknowledged, up to `confirmedLSN`.
    private(set) var confirmed: SnapshotState
    /// Progress snapshots waiting for the watermark to pass their end LSN.
    private var pending: [(endLSN: LSN, state: SnapshotState)] = []
    /// The state after the chunk of the open transaction, until its Commit.
    private var openTransactionState: SnapshotState?
    /// A row of a job table, by its Kafka key.
    struct TableKey: Hashable {
        var table: QualifiedName
        var key: [UInt8]
    }
    /// Rows of job tables changed, per transaction xid (for the drop rule).
    private var changedKeys: [UInt32: Set<TableKey>] = [:]
    private var recordedTables: Set<QualifiedName>
    /// When this session's job started here, and its rows done then (for the rate).
    private var sessionStart = ContinuousClock().now
    private var rowsAtSessionStart: Int
    /// `schema.table` of the last chunk published (for the published-events counter).
    private(set) var lastChunkTable = ""
    /// The job as it ended (for the last progress report).
    private var finishedJob: SnapshotState.Job?
    /// True when this session has run a job (open at its start, or requested since).
    private(set) var hadJob: Bool

    init(state: SnapshotState, channel: SnapshotChannel, session: UInt64) {
        self.working = state
        self.confirmed = state
        self.channel = channel
        self.session = session
        self.hadJob = state.job != nil
        self.rowsAtSessionStart = state.job?.rowsDone ?? 0
        recordedTables = Set(state.job?.tables.filter { !$0.done }.map(\.table) ?? [])
    }

    /// True when this session had a job and its every chunk is acknowledged.
    var jobFinished: Bool { hadJob && confirmed.job == nil }

    /// True when no job runs and every chunk of an earlier one is confirmed: a new job may start.
    var isIdle: Bool { working.job == nil && pending.isEmpty && openTransactionState == nil }

    /// Starts a job requested while streaming (`walbridge snapshot` next to a
    /// running bridge). Its empty progress counts as confirmed at once: nothing
    /// of it is in flight. Only when `isIdle`.
    func start(_ job: SnapshotState.Job, session: UInt64) {
        precondition(isIdle, "a snapshot job started while another runs")
        self.session = session
        working.job = job
        confirmed.job = job
        recordedTables = Set(job.tables.filter { !$0.done }.map(\.table))
        hadJob = true
        finishedJob = nil
        rowsAtSessionStart = job.rowsDone
        sessionStart = ContinuousClock().now
    }

    /// Records the keys a streamed change touches, when its table is being snapshotted.
    func record(xid: UInt32, change: RowChange, mapper: EventMapper) {
        guard !recordedTables.isEmpty else { return }
        let table = QualifiedName(schema: change.relation.schema, table: change.relation.name)
        guard recordedTables.contains(table) else { return }
        let keys = mapper.touchedKeys(change)
        guard !keys.isEmpty else { return }
        changedKeys[xid, default: []].formUnion(keys.map { TableKey(table: table, key: $0) })
    }

    /// Number of transactions whose changed keys are remembered (for tests).
    var rememberedTransactions: Int { changedKeys.count }

    /// What a chunk brings when its high watermark comes through the stream.
    struct ChunkOutcome {
        /// The events to publish, in key order, without the dropped rows.
        var records: [EventRecord] = []
        /// Rows left to the stream (changed by a transaction the SELECT did not see).
        var dropped = 0
        /// Rows the mapping refused, as inserts, with the reason.
        var unmappable: [(change: RowChange, error: MappingError)] = []
        /// Rows the reader could not decode: their key and the reason.
        var undecodable: [(key: String, reason: String)] = []
        var relation: Relation?
    }

    /// What a high watermark brings. Nil when the mark is not this session's
    /// (a mark re-read after a restart).
    func highWatermark(
        _ watermark: SnapshotWatermark, transaction: TransactionInfo, mapper: EventMapper
    ) -> ChunkOutcome? {
        guard watermark.mark == .high, watermark.session == session, var job = working.job,
              let chunk = channel.take(session: session, sequence: watermark.sequence)
        else { return nil }
        lastChunkTable = chunk.relation.schema + "." + chunk.relation.name
        let table = QualifiedName(schema: chunk.relation.schema, table: chunk.relation.name)
        var dropped: Set<[UInt8]> = []
        for (xid, keys) in changedKeys where chunk.visibility.isInvisible(xid) {
            for changed in keys where changed.table == table { dropped.insert(changed.key) }
        }
        // Older transactions are visible to every later SELECT.
        changedKeys = changedKeys.filter { !SnapshotVisibility.precedes($0.key, chunk.visibility.xmin) }

        let context = SnapshotEventContext(jobID: job.id, transaction: transaction)
        var outcome = ChunkOutcome(undecodable: chunk.undecodable, relation: chunk.relation)
        outcome.records.reserveCapacity(chunk.rows.count)
        for row in chunk.rows {
            let record: EventRecord
            do {
                guard let mapped = try mapper.mapSnapshotRow(row, relation: chunk.relation, context: context) else { continue }
                record = mapped
            } catch {
                outcome.unmappable.append((RowChange(operation: .insert, relation: chunk.relation, new: row, old: nil, oldKind: nil,
                                                     ordinal: outcome.unmappable.count), error))
                continue
            }
            if let key = record.key, dropped.contains(key) {
                outcome.dropped += 1
                continue
            }
            outcome.records.append(record)
        }
        var progress = job.tables[chunk.tableIndex]
        if let lastKey = chunk.lastKey { progress.lastKey = lastKey }
        progress.rowsDone += chunk.rows.count + chunk.undecodable.count
        progress.done = chunk.isLastOfTable
        job.tables[chunk.tableIndex] = progress
        working.job = job
        if chunk.isLastOfTable {
            // A table read to its end needs no more records; no table, no records at all.
            recordedTables.remove(table)
            if recordedTables.isEmpty { changedKeys.removeAll() }
        }
        if job.isFinished {
            finishedJob = job
            working.finishJob()
        }
        openTransactionState = working
        return outcome
    }

    /// The transaction that carried a chunk committed at `endLSN`.
    func committed(endLSN: LSN) {
        guard let state = openTransactionState else { return }
        openTransactionState = nil
        pending.append((endLSN, state))
    }

    /// The watermark reached `lsn`: adopt the progress of every chunk up to it.
    /// Returns true when the confirmed progress changed.
    func confirm(upTo lsn: LSN) -> Bool {
        var changed = false
        while let first = pending.first, first.endLSN <= lsn {
            confirmed = first.state
            pending.removeFirst()
            changed = true
        }
        return changed
    }

    /// Progress numbers of the confirmed state, for the progress line, the log and the metrics.
    var progress: SnapshotProgress? {
        guard let job = confirmed.job ?? (jobFinished ? finishedJob : nil) else { return nil }
        let elapsed = ContinuousClock().now - sessionStart
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return SnapshotProgress(job: job, rowsThisSession: job.rowsDone - rowsAtSessionStart, seconds: seconds)
    }
}

/// Backfill progress: rows done against the estimate, the rate and the time left.
public struct SnapshotProgress: Sendable, Hashable {
    /// One table of the job: rows done, its estimate, and whether it is read to its end.
    public struct Table: Sendable, Hashable {
        public var table: String
        public var rowsDone: Int
        public var estimatedRows: Int
        public var done: Bool
    }

    public var tables: [Table]
    public var rowsDone: Int
    /// The estimated total (`pg_class.reltuples`), never below `rowsDone`.
    public var estimatedRows: Int
    /// Rows per second over this process's part of the job.
    public var rowsPerSecond: Double
    /// Seconds left at that rate; nil when not known yet.
    public var etaSeconds: Double?

    /// The numbers of `job`, with the rate of `rowsThisSession` rows over `seconds`.
    public init(job: SnapshotState.Job, rowsThisSession: Int, seconds: Double) {
        tables = job.tables.map { Table(table: $0.table.description, rowsDone: $0.rowsDone, estimatedRows: $0.estimatedRows, done: $0.done) }
        rowsDone = job.rowsDone
        estimatedRows = job.tables.reduce(0) { $0 + ($1.done ? $1.rowsDone : max($1.estimatedRows, $1.rowsDone)) }
        rowsPerSecond = seconds > 0.5 ? Double(rowsThisSession) / seconds : 0
        etaSeconds = rowsPerSecond > 0 ? Double(max(estimatedRows - rowsDone, 0)) / rowsPerSecond : nil
    }

    /// The numbers of `job` with its average rate since it started, as of `now`
    /// (what a reader of the checkpoint, such as `status`, can tell).
    public init(averageOf job: SnapshotState.Job, now: Date) {
        self.init(job: job, rowsThisSession: job.rowsDone, seconds: now.timeIntervalSince(job.startedAt))
    }

    /// `public.users: 420,000 / 1,000,000 rows (42%), 61,234 rows/s, ETA 9s`
    public var line: String {
        let current = tables.first { !$0.done }?.table ?? tables.last?.table ?? ""
        let percent = estimatedRows > 0 ? min(100, rowsDone * 100 / estimatedRows) : 0
        var text = "\(current): \(Self.grouped(rowsDone)) / ~\(Self.grouped(estimatedRows)) rows (\(percent)%)"
        if rowsPerSecond > 0 { text += ", \(Self.grouped(Int(rowsPerSecond))) rows/s" }
        if let etaSeconds { text += ", ETA \(DurationText.format(.seconds(Int64(etaSeconds.rounded(.up)))))" }
        return text
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return out
    }
}
