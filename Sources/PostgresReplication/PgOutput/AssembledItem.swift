/// What one pgoutput message meant, as the `TransactionAssembler` reports it.
public enum AssembledItem: Sendable {
    /// A transaction began; its changes and its commit follow.
    case begin(TransactionInfo)
    /// An insert, update or delete with decoded values.
    case change(RowChange)
    /// Tables were truncated. `ordinal` counts like `RowChange.ordinal`.
    case truncate(relations: [Relation], cascade: Bool, restartIdentity: Bool, ordinal: Int)
    /// A logical decoding message. `transactionOrdinal` is its 0-based position
    /// among the transactional messages of its transaction; nil when non-transactional.
    case message(LogicalMessage, transactionOrdinal: Int?)
    /// The transaction committed; `endLSN` is the position to confirm once it is delivered.
    case commit(info: TransactionInfo, endLSN: LSN)
    /// A Relation message (re)described a table: a new session, or a schema change.
    case relationChanged(Relation)
}
