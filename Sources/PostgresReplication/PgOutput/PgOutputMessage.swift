/// One pgoutput logical replication message, of any protocol version 1 to 4.
///
/// Times are converted from the Postgres epoch (2000-01-01) to Unix-epoch
/// microseconds. Tuples keep their raw column bytes (see `TupleData`); the
/// `TransactionAssembler` turns them into typed `RowChange`s.
///
/// Protocol 1 has the cases from `begin` to `message`. Protocol 2 adds
/// streaming of in-progress transactions (`streamStart` … `streamAbort`, and
/// `streamed` for the messages inside a stream block, which carry an xid),
/// protocol 3 two-phase commit (`beginPrepare` … `streamPrepare`), protocol 4
/// the abort LSN and time of `streamAbort` (with `streaming 'parallel'` only).
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

    // Protocol 2: streaming of large in-progress transactions.

    /// `S`: a block of changes of the in-progress transaction `xid` follows,
    /// up to `streamStop`. `firstSegment` is true for its first block.
    case streamStart(xid: UInt32, firstSegment: Bool)
    /// `E`: the current stream block ends.
    case streamStop
    /// `c`: the streamed transaction `xid` committed.
    case streamCommit(xid: UInt32, flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTimeMicros: Int64)
    /// `A`: the streamed (sub)transaction `subtransactionXID` of the top-level
    /// transaction `xid` aborted (the two are equal for a top-level abort).
    /// `abortLSN` and `abortTimeMicros` are sent with protocol 4 and
    /// `streaming 'parallel'` only; nil otherwise.
    case streamAbort(xid: UInt32, subtransactionXID: UInt32, abortLSN: LSN?, abortTimeMicros: Int64?)
    /// A Relation, Type, Insert, Update, Delete, Truncate or Message sent inside
    /// a stream block: `message` as in protocol 1, `xid` the (sub)transaction it
    /// belongs to (the Int32 that follows the message type in protocol 2+).
    indirect case streamed(xid: UInt32, message: PgOutputMessage)

    // Protocol 3: two-phase commit.

    /// `b`: a prepared transaction starts; its changes and a `prepare` follow.
    case beginPrepare(PreparedTransaction)
    /// `P`: the transaction opened by `beginPrepare` was prepared.
    case prepare(flags: UInt8, PreparedTransaction)
    /// `K`: the prepared transaction `gid` committed (`COMMIT PREPARED`).
    case commitPrepared(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTimeMicros: Int64, xid: UInt32, gid: String)
    /// `r`: the prepared transaction `gid` was rolled back (`ROLLBACK PREPARED`).
    case rollbackPrepared(flags: UInt8, prepareEndLSN: LSN, rollbackEndLSN: LSN, prepareTimeMicros: Int64,
                          rollbackTimeMicros: Int64, xid: UInt32, gid: String)
    /// `p`: the streamed transaction `xid` was prepared (protocol 3 with streaming).
    case streamPrepare(flags: UInt8, PreparedTransaction)

    /// True for a message sent inside a stream block (`.streamed`).
    public var isStreamed: Bool {
        if case .streamed = self { return true }
        return false
    }

    /// The message's name as the Postgres documentation spells it ("Stream
    /// Abort"), for logs; a streamed message is named as its inner message.
    public var kindName: String {
        switch self {
        case .begin: "Begin"
        case .commit: "Commit"
        case .origin: "Origin"
        case .relation: "Relation"
        case .type: "Type"
        case .insert: "Insert"
        case .update: "Update"
        case .delete: "Delete"
        case .truncate: "Truncate"
        case .message: "Message"
        case .streamStart: "Stream Start"
        case .streamStop: "Stream Stop"
        case .streamCommit: "Stream Commit"
        case .streamAbort: "Stream Abort"
        case .streamed(_, let message): message.kindName
        case .beginPrepare: "Begin Prepare"
        case .prepare: "Prepare"
        case .commitPrepared: "Commit Prepared"
        case .rollbackPrepared: "Rollback Prepared"
        case .streamPrepare: "Stream Prepare"
        }
    }
}

/// The fields shared by Begin Prepare (`b`), Prepare (`P`) and Stream Prepare (`p`).
public struct PreparedTransaction: Sendable, Hashable {
    /// The LSN of the prepare record.
    public var prepareLSN: LSN
    /// The end LSN of the prepared transaction.
    public var endLSN: LSN
    /// Prepare time, Unix-epoch microseconds.
    public var prepareTimeMicros: Int64
    public var xid: UInt32
    /// The global transaction identifier given to `PREPARE TRANSACTION`.
    public var gid: String

    public init(prepareLSN: LSN, endLSN: LSN, prepareTimeMicros: Int64, xid: UInt32, gid: String) {
        self.prepareLSN = prepareLSN
        self.endLSN = endLSN
        self.prepareTimeMicros = prepareTimeMicros
        self.xid = xid
        self.gid = gid
    }
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
