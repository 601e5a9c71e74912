/// One pgoutput logical replication message (protocol version 1).
///
/// Times are converted from the Postgres epoch (2000-01-01) to Unix-epoch
/// microseconds. Tuples keep their raw column bytes (see `TupleData`); the
/// `TransactionAssembler` turns them into typed `RowChange`s.
public enum PgOutputMessage: Sendable, Hashable {
    /// `B`: a transaction starts. `finalLSN` is the LSN of its commit record.
    case begin(finalLSN: LSN, commitTimeMicros: Int64, xid: UInt32)
    /// `C`: the transaction ends. `endLSN` is the position to confirm once all of it is processed.
    case commit(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTimeMicros: Int64)
    /// `O`: the transaction was replicated from another origin.
    case origin(commitLSN: LSN, name: String)
    /// `R`: describes a table; sent before the first change to it in a session and after schema changes.
    case relation(RelationMessage)
    /// `Y`: describes a non-built-in type used by a relation's columns.
    case type(TypeMessage)
    /// `I`: a row was inserted.
    case insert(relationID: UInt32, new: TupleData)
    /// `U`: a row was updated. `old` is sent with `K` (key columns only) or
    /// `O` (whole row, REPLICA IDENTITY FULL) when the identity changed or is FULL.
    case update(relationID: UInt32, old: TupleData?, oldKind: OldRowKind?, new: TupleData)
    /// `D`: a row was deleted; `old` holds its key (`K`) or whole row (`O`).
    case delete(relationID: UInt32, old: TupleData, oldKind: OldRowKind)
    /// `T`: tables were truncated.
    case truncate(relationIDs: [UInt32], cascade: Bool, restartIdentity: Bool)
    /// `M`: a logical decoding message (`pg_logical_emit_message`).
    case message(LogicalMessage)
}

/// The payload of a pgoutput Relation (`R`) message.
public struct RelationMessage: Sendable, Hashable {
    /// The relation's OID, used by the change messages that follow.
    public var id: UInt32
    /// Schema name as sent; the empty string means `pg_catalog`.
    public var namespace: String
    public var name: String
    public var replicaIdentity: Relation.ReplicaIdentity
    /// Columns in attribute order (generated columns are not sent). `isKey` is flag bit 1.
    public var columns: [Relation.Column]

    public init(id: UInt32, namespace: String, name: String,
                replicaIdentity: Relation.ReplicaIdentity, columns: [Relation.Column]) {
        self.id = id
        self.namespace = namespace
        self.name = name
        self.replicaIdentity = replicaIdentity
        self.columns = columns
    }

    /// The relation with the empty namespace resolved to `pg_catalog`.
    public var relation: Relation {
        Relation(id: id, schema: namespace.isEmpty ? "pg_catalog" : namespace, name: name,
                 replicaIdentity: replicaIdentity, columns: columns)
    }
}

/// The payload of a pgoutput Type (`Y`) message: names a non-built-in type.
public struct TypeMessage: Sendable, Hashable {
    public var oid: UInt32
    /// Schema name as sent; the empty string means `pg_catalog`.
    public var namespace: String
    public var name: String

    public init(oid: UInt32, namespace: String, name: String) {
        self.oid = oid
        self.namespace = namespace
        self.name = name
    }
}

/// The payload of a pgoutput logical decoding Message (`M`).
public struct LogicalMessage: Sendable, Hashable {
    /// Emitted with `transactional = true`: delivered inside its transaction.
    public var transactional: Bool
    /// The LSN of the message record.
    public var lsn: LSN
    public var prefix: String
    public var content: [UInt8]

    public init(transactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
        self.transactional = transactional
        self.lsn = lsn
        self.prefix = prefix
        self.content = content
    }
}
