import EventMapping
import Foundation
import PostgresReplication

/// The backfill's delivered progress, stored in the checkpoint next to the LSN
/// (docs/snapshots.md, "Progress, restart and resume"). Only progress whose events Kafka acknowledged is ever
/// recorded, so a restart resumes at the first chunk not fully delivered.
///
/// A pure value with its own JSON form (the checkpoint's `snapshot` object).
public struct SnapshotState: Sendable, Hashable {
    /// Where a snapshot job came from.
    public enum Origin: String, Sendable, Hashable {
        /// `walbridge snapshot`.
        case command
        /// A mapping's `snapshot: {mode: initial}`, run on the first start.
        case initial
        /// `walbridge run --recreate-slot`: the backfill that heals a `SlotGap`.
        case recreatedSlot = "recreated-slot"
    }

    /// One table of a job.
    public struct TableProgress: Sendable, Hashable {
        public var table: QualifiedName
        /// The pagination-key values (as Postgres writes them) of the last row of
        /// the last fully delivered chunk; nil before the first chunk.
        public var lastKey: [String]?
        /// Rows read in fully delivered chunks.
        public var rowsDone: Int
        /// `pg_class.reltuples` when the job started (an estimate; -1 when unknown).
        public var estimatedRows: Int
        public var done: Bool

        public init(table: QualifiedName, lastKey: [String]? = nil, rowsDone: Int = 0, estimatedRows: Int = -1, done: Bool = false) {
            self.table = table; self.lastKey = lastKey; self.rowsDone = rowsDone
            self.estimatedRows = estimatedRows; self.done = done
        }
    }

    /// A backfill of one or more tables, table by table in order.
    public struct Job: Sendable, Hashable {
        /// A random UUID: part of every snapshot event's id, so a chunk sent
        /// again after a restart carries the same ids.
        public var id: String
        public var origin: Origin
        /// `--where`: an SQL condition every table's rows must meet.
        public var filter: String?
        public var tables: [TableProgress]
        public var startedAt: Date

        public init(id: String = UUID().uuidString.lowercased(), origin: Origin, filter: String?, tables: [TableProgress], startedAt: Date = Date()) {
            self.id = id; self.origin = origin; self.filter = filter; self.tables = tables; self.startedAt = startedAt
        }

        /// The first table not yet done, or nil when the job is finished.
        public var currentTableIndex: Int? { tables.firstIndex { !$0.done } }
        public var isFinished: Bool { currentTableIndex == nil }
        public var rowsDone: Int { tables.reduce(0) { $0 + $1.rowsDone } }
        /// The sum of the tables' estimates (unknown ones count as 0).
        public var estimatedRows: Int { tables.reduce(0) { $0 + max($1.estimatedRows, 0) } }

        /// True when `tables` and `filter` ask for the same backfill as this job.
        public func matches(tables other: [QualifiedName], filter otherFilter: String?) -> Bool {
            tables.map(\.table) == other && filter == otherFilter
        }
    }

    /// The job in progress, if any.
    public var job: Job?
    /// Tables whose `snapshot: initial` backfill has finished: never run again
    /// (unless the checkpoint file is removed).
    public var completedInitial: [QualifiedName]
    /// The id of the last job that finished (so `walbridge snapshot` can tell
    /// that the job it asked a running bridge for is done).
    public var lastFinishedJobID: String?
    /// Changes lost with a recreated slot, until the backfill started for them
    /// is delivered (stored as the checkpoint's `gap` object). It travels with
    /// the backfill's progress because it heals exactly when that job's last
    /// chunk is acknowledged.
    public var gap: SlotGap?

    public init(job: Job? = nil, completedInitial: [QualifiedName] = [], lastFinishedJobID: String? = nil, gap: SlotGap? = nil) {
        self.job = job
        self.completedInitial = completedInitial
        self.lastFinishedJobID = lastFinishedJobID
        self.gap = gap
    }

    public var isEmpty: Bool { hasSnapshotObject == false && gap == nil }

    /// True when the checkpoint needs its `snapshot` object.
    var hasSnapshotObject: Bool { job != nil || !completedInitial.isEmpty || lastFinishedJobID != nil }

    /// Marks the job finished: an `initial` job's tables join `completedInitial`,
    /// and the gap it was started for is healed.
    public mutating func finishJob() {
        guard let job else { return }
        if job.origin == .initial {
            for table in job.tables where !completedInitial.contains(table.table) { completedInitial.append(table.table) }
        }
        if let gap, gap.backfillJobID == job.id { self.gap = nil }
        lastFinishedJobID = job.id
        self.job = nil
    }

    // MARK: - JSON

    /// The checkpoint's `snapshot` object.
    var jsonObject: [String: Any] {
        var object: [String: Any] = ["completedInitial": completedInitial.map(\.description)]
        if let lastFinishedJobID { object["lastFinishedJob"] = lastFinishedJobID }
        if let job {
            var jobObject: [String: Any] = [
                "id": job.id, "origin": job.origin.rawValue,
                "startedAt": job.startedAt.formatted(.iso8601),
                "tables": job.tables.map { table -> [String: Any] in
                    var entry: [String: Any] = [
                        "table": table.table.description, "rowsDone": table.rowsDone,
                        "estimatedRows": table.estimatedRows, "done": table.done,
                    ]
                    if let lastKey = table.lastKey { entry["lastKey"] = lastKey }
                    return entry
                },
            ]
            if let filter = job.filter { jobObject["where"] = filter }
            object["job"] = jobObject
        }
        return object
    }

    /// Reads the checkpoint's `snapshot` object; nil when it is malformed.
    init?(jsonObject object: [String: Any]) {
        var completed: [QualifiedName] = []
        for text in object["completedInitial"] as? [String] ?? [] {
            guard let name = try? QualifiedName.parse(text) else { return nil }
            completed.append(name)
        }
        self.completedInitial = completed
        self.lastFinishedJobID = object["lastFinishedJob"] as? String
        guard let jobObject = object["job"] as? [String: Any] else {
            self.job = nil
            return
        }
        guard let id = jobObject["id"] as? String, let originText = jobObject["origin"] as? String,
              let origin = Origin(rawValue: originText), let tableObjects = jobObject["tables"] as? [[String: Any]]
        else { return nil }
        var tables: [TableProgress] = []
        for entry in tableObjects {
            guard let text = entry["table"] as? String, let name = try? QualifiedName.parse(text),
                  let rowsDone = entry["rowsDone"] as? Int, let done = entry["done"] as? Bool
            else { return nil }
            tables.append(TableProgress(table: name, lastKey: entry["lastKey"] as? [String], rowsDone: rowsDone,
                                        estimatedRows: entry["estimatedRows"] as? Int ?? -1, done: done))
        }
        let startedAt = (jobObject["startedAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) } ?? Date()
        self.job = Job(id: id, origin: origin, filter: jobObject["where"] as? String, tables: tables, startedAt: startedAt)
    }
}
