/// A message the `TransactionAssembler` could not apply.
///
/// Two families:
/// - Per-change errors (`ordinal != nil`): an unknown relation, a column-count
///   mismatch or an undecodable value in one Insert/Update/Delete/Truncate.
///   The assembler stays consistent (the ordinal has advanced), so the caller
///   may dead-letter that one change — it knows `transaction`, `ordinal`,
///   `relation` and still holds the message — and keep going.
/// - Stream errors (`ordinal == nil`): messages out of protocol order. The
///   assembler's state is unchanged; the stream should be restarted (`reset()`).
public struct TransactionAssemblerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable {
        /// A change or truncate names a relation no Relation message described.
        case unknownRelation(relationID: UInt32)
        /// An Insert/Update/Delete/Truncate or transactional Message arrived outside Begin…Commit.
        case outsideTransaction(messageKind: String)
        /// A Begin arrived while a transaction was open.
        case beginInsideTransaction(newXID: UInt32)
        /// A Commit arrived without a Begin.
        case commitOutsideTransaction
        /// The Commit's commit LSN is not the Begin's final LSN.
        case commitLSNMismatch(begin: LSN, commit: LSN)
        /// A tuple does not have one column per relation column.
        case columnCountMismatch(expected: Int, actual: Int)
        /// A column value is in binary format, which WalBridge does not request.
        case binaryColumn(column: String)
        /// A column value could not be decoded.
        case valueDecoding(column: String, error: ValueDecodingError)
        /// A transaction committed whose changes came in messages of protocol 2
        /// or 3 (a stream, or a prepared transaction) that the session did not
        /// ask for and skipped: delivering its commit would lose them.
        /// `kind` is "Stream Commit" or "Commit Prepared".
        case undeliverableTransaction(kind: String, xid: UInt32, gid: String?, commitLSN: LSN, endLSN: LSN)
    }

    public var code: Code
    /// The open transaction, if any.
    public var transaction: TransactionInfo?
    /// The change's ordinal within the transaction (per-change errors only).
    public var ordinal: Int?
    /// The relation of the change, when known.
    public var relation: Relation?

    public init(_ code: Code, transaction: TransactionInfo?, ordinal: Int? = nil, relation: Relation? = nil) {
        self.code = code
        self.transaction = transaction
        self.ordinal = ordinal
        self.relation = relation
    }

    /// True when only one change is affected and the assembler can continue.
    public var isPerChange: Bool { ordinal != nil }

    public var description: String {
        var text: String
        switch code {
        case let .unknownRelation(id):
            text = "change for relation \(id) that no Relation message described"
        case let .outsideTransaction(kind):
            text = "\(kind) message outside a transaction"
        case let .beginInsideTransaction(xid):
            text = "Begin of xid \(xid) while a transaction is open"
        case .commitOutsideTransaction:
            text = "Commit without a Begin"
        case let .commitLSNMismatch(begin, commit):
            text = "Commit LSN \(commit) differs from Begin's final LSN \(begin)"
        case let .columnCountMismatch(expected, actual):
            text = "tuple has \(actual) columns, relation has \(expected)"
        case let .binaryColumn(column):
            text = "column \"\(column)\" is in binary format, which is not supported"
        case let .valueDecoding(column, error):
            text = "column \"\(column)\": \(error)"
        case let .undeliverableTransaction(kind, xid, gid, commitLSN, endLSN):
            let how = gid == nil ? "streamed in-progress transaction (protocol 2)" : "prepared transaction \"\(gid ?? "")\" (protocol 3)"
            text = "Postgres sent transaction \(xid) (commit LSN \(commitLSN), end LSN \(endLSN)) as a \(how) "
                + "and now its \(kind), although this session asked for protocol 1 without streaming or two-phase; "
                + "its changes were skipped, so WalBridge stops instead of losing them. Check that the slot was not "
                + "created with two_phase (pg_replication_slots.two_phase) and that the server is a supported version; "
                + "recreate the slot and snapshot the affected tables, and report the Postgres version if it recurs"
        }
        if let relation { text += " in \(relation.schema).\(relation.name)" }
        if let transaction {
            text += " (xid \(transaction.xid), commit LSN \(transaction.commitLSN)"
            if let ordinal { text += ", change \(ordinal)" }
            text += ")"
        }
        return text
    }
}
