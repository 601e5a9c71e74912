/// A table as the replication stream describes it (from a Relation message),
/// with its column types resolved.
public struct Relation: Sendable, Hashable {
    /// How Postgres identifies the old row of an update or delete.
    public enum ReplicaIdentity: Sendable, Hashable {
        case `default`, nothing, full, index
    }

    /// One column, in the table's attribute order.
    public struct Column: Sendable, Hashable {
        public var name: String
        public var typeOID: UInt32
        public var typeModifier: Int32
        /// Part of the replica identity (the primary key under DEFAULT).
        public var isKey: Bool
        public init(name: String, typeOID: UInt32, typeModifier: Int32, isKey: Bool) {
            self.name = name; self.typeOID = typeOID; self.typeModifier = typeModifier; self.isKey = isKey
        }
    }

    public var id: UInt32
    public var schema: String
    public var name: String
    public var replicaIdentity: ReplicaIdentity
    public var columns: [Column]

    public init(id: UInt32, schema: String, name: String, replicaIdentity: ReplicaIdentity, columns: [Column]) {
        self.id = id; self.schema = schema; self.name = name
        self.replicaIdentity = replicaIdentity; self.columns = columns
    }
}

/// One column of a decoded row.
public enum RowValue: Sendable, Hashable {
    /// The value, which may be `.null`.
    case value(PostgresValue)
    /// An unchanged TOASTed value that the update did not carry (`u`).
    case unchangedToast
}

/// A decoded row: one `RowValue` per column of its `Relation`, in column order.
public typealias Row = [RowValue]

/// What the old-row part of an update or delete carried.
public enum OldRowKind: Sendable, Hashable {
    /// Only the replica-identity columns (`K`); the others are not known.
    case key
    /// The whole old row (`O`, REPLICA IDENTITY FULL).
    case full
}

/// A row change of one transaction, with typed values.
public struct RowChange: Sendable {
    public enum Operation: Sendable, Hashable { case insert, update, delete }

    public var operation: Operation
    public var relation: Relation
    /// The new row (insert, update); nil for a delete.
    public var new: Row?
    /// The old row or key (update with `K`/`O`, delete); nil when not sent.
    public var old: Row?
    public var oldKind: OldRowKind?
    /// 0-based position among the Insert, Update, Delete and Truncate
    /// messages of the transaction (the event-id ordinal).
    public var ordinal: Int

    public init(operation: Operation, relation: Relation, new: Row?, old: Row?, oldKind: OldRowKind?, ordinal: Int) {
        self.operation = operation; self.relation = relation; self.new = new
        self.old = old; self.oldKind = oldKind; self.ordinal = ordinal
    }
}

/// The identity of the transaction a change belongs to, known from its Begin message.
public struct TransactionInfo: Sendable, Hashable {
    /// The LSN of the commit record (Begin's `final_lsn`, Commit's commit LSN).
    public var commitLSN: LSN
    /// Commit time, microseconds since 1970-01-01 UTC.
    public var commitTimeMicros: Int64
    public var xid: UInt32
    public init(commitLSN: LSN, commitTimeMicros: Int64, xid: UInt32) {
        self.commitLSN = commitLSN; self.commitTimeMicros = commitTimeMicros; self.xid = xid
    }
}
