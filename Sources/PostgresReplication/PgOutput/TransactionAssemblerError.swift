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
