/// Turns the pgoutput message stream into transactions of typed row changes.
///
/// A pure state machine (no I/O): feed every `PgOutputMessage` in stream
/// order to `process(_:)`, act on the returned `AssembledItem`. It keeps the
/// relation cache (replaced on each Relation message) and the `TypeRegistry`
/// (fed by Type messages), numbers the changes of each transaction
/// (`RowChange.ordinal` counts every Insert, Update, Delete and Truncate,
/// whether or not it succeeds or is mapped) and, separately, its
/// transactional logical messages.
///
/// Errors: see `TransactionAssemblerError`. After a per-change error the
/// state has advanced exactly as for a good change.
public struct TransactionAssembler: Sendable {
    private enum State: Sendable {
        case idle
        case inTransaction(TransactionInfo, nextChange: Int, nextMessage: Int)
    }

    private var state: State = .idle
    /// Relations described so far, by relation ID.
    public private(set) var relations: [UInt32: Relation] = [:] {
        didSet { lastRelation = nil }
    }
    /// The relation of the previous change: most changes hit the same table.
    private var lastRelation: Relation?
    /// Types described so far.
    public private(set) var types = TypeRegistry()
    public var valueDecoder: PostgresValueDecoder

    public init(valueDecoder: PostgresValueDecoder = PostgresValueDecoder()) {
        self.valueDecoder = valueDecoder
    }

    /// The open transaction, between Begin and Commit.
    public var currentTransaction: TransactionInfo? {
        if case let .inTransaction(info, _, _) = state { return info }
        return nil
    }

    /// Forgets the open transaction and all relations and types, as needed
    /// when a new replication session starts (pgoutput re-describes them).
    public mutating func reset() {
        state = .idle
        relations = [:]
        types = TypeRegistry()
    }

    /// Applies one message. Returns nil for Origin and Type messages.
    public mutating func process(_ message: PgOutputMessage) throws(TransactionAssemblerError) -> AssembledItem? {
        switch message {
        case let .begin(finalLSN, commitTime, xid):
            if case let .inTransaction(open, _, _) = state {
                throw TransactionAssemblerError(.beginInsideTransaction(newXID: xid), transaction: open)
            }
            let info = TransactionInfo(commitLSN: finalLSN, commitTimeMicros: commitTime, xid: xid)
            state = .inTransaction(info, nextChange: 0, nextMessage: 0)
            return .begin(info)

        case let .commit(_, commitLSN, endLSN, _):
            guard case let .inTransaction(info, _, _) = state else {
                throw TransactionAssemblerError(.commitOutsideTransaction, transaction: nil)
            }
            guard commitLSN == info.commitLSN else {
                throw TransactionAssemblerError(.commitLSNMismatch(begin: info.commitLSN, commit: commitLSN), transaction: info)
            }
            state = .idle
            return .commit(info: info, endLSN: endLSN)

        case .origin:
            return nil

        case let .type(type):
            types.register(type)
            return nil

        case let .relation(relationMessage):
            let relation = relationMessage.relation
            relations[relation.id] = relation
            return .relationChanged(relation)

        case let .insert(relationID, new):
            let (info, ordinal) = try takeChangeOrdinal("Insert")
            let relation = try relation(relationID, info, ordinal)
            let row = try decodeRow(new, relation, info, ordinal)
            return .change(RowChange(operation: .insert, relation: relation, new: row, old: nil, oldKind: nil, ordinal: ordinal))

        case let .update(relationID, old, oldKind, new):
            let (info, ordinal) = try takeChangeOrdinal("Update")
            let relation = try relation(relationID, info, ordinal)
            let oldRow = try old.map { (tuple) throws(TransactionAssemblerError) in try decodeRow(tuple, relation, info, ordinal) }
            let newRow = try decodeRow(new, relation, info, ordinal)
            return .change(RowChange(operation: .update, relation: relation, new: newRow, old: oldRow,
                                     oldKind: oldRow == nil ? nil : oldKind, ordinal: ordinal))

        case let .delete(relationID, old, oldKind):
            let (info, ordinal) = try takeChangeOrdinal("Delete")
            let relation = try relation(relationID, info, ordinal)
            let oldRow = try decodeRow(old, relation, info, ordinal)
            return .change(RowChange(operation: .delete, relation: relation, new: nil, old: oldRow, oldKind: oldKind, ordinal: ordinal))

        case let .truncate(relationIDs, cascade, restartIdentity):
            let (info, ordinal) = try takeChangeOrdinal("Truncate")
            var truncated: [Relation] = []
            truncated.reserveCapacity(relationIDs.count)
            for id in relationIDs {
                truncated.append(try relation(id, info, ordinal))
            }
            return .truncate(relations: truncated, cascade: cascade, restartIdentity: restartIdentity, ordinal: ordinal)

        case let .message(logical):
            guard logical.transactional else {
                return .message(logical, transactionOrdinal: nil)
            }
            guard case let .inTransaction(info, nextChange, nextMessage) = state else {
                throw TransactionAssemblerError(.outsideTransaction(messageKind: "transactional Message"), transaction: nil)
            }
            state = .inTransaction(info, nextChange: nextChange, nextMessage: nextMessage + 1)
            return .message(logical, transactionOrdinal: nextMessage)
        }
    }

    /// Claims the next change ordinal of the open transaction.
    private mutating func takeChangeOrdinal(_ kind: String) throws(TransactionAssemblerError) -> (TransactionInfo, Int) {
        guard case let .inTransaction(info, nextChange, nextMessage) = state else {
            throw TransactionAssemblerError(.outsideTransaction(messageKind: kind), transaction: nil)
        }
        state = .inTransaction(info, nextChange: nextChange + 1, nextMessage: nextMessage)
        return (info, nextChange)
    }

    private mutating func relation(_ id: UInt32, _ info: TransactionInfo, _ ordinal: Int) throws(TransactionAssemblerError) -> Relation {
        if let last = lastRelation, last.id == id { return last }
        guard let relation = relations[id] else {
            throw TransactionAssemblerError(.unknownRelation(relationID: id), transaction: info, ordinal: ordinal)
        }
        lastRelation = relation
        return relation
    }

    private func decodeRow(
        _ tuple: TupleData, _ relation: Relation, _ info: TransactionInfo, _ ordinal: Int
    ) throws(TransactionAssemblerError) -> Row {
        guard tuple.count == relation.columns.count else {
            throw TransactionAssemblerError(
                .columnCountMismatch(expected: relation.columns.count, actual: tuple.count),
                transaction: info, ordinal: ordinal, relation: relation)
        }
        var row: Row = []
        row.reserveCapacity(tuple.count)
        let columns = relation.columns
        var index = 0
        try tuple.forEachRawColumn { (value) throws(TransactionAssemblerError) in
            let column = columns[index]
            index &+= 1
            switch value {
            case .null:
                row.append(.value(.null))
            case .unchangedToast:
                row.append(.unchangedToast)
            case let .text(bytes):
                do throws(ValueDecodingError) {
                    row.append(.value(try valueDecoder.decode(bytes, typeOID: column.typeOID, registry: types)))
                } catch {
                    throw TransactionAssemblerError(.valueDecoding(column: column.name, error: error),
                                                    transaction: info, ordinal: ordinal, relation: relation)
                }
            case .binary:
                throw TransactionAssemblerError(.binaryColumn(column: column.name),
                                                transaction: info, ordinal: ordinal, relation: relation)
            }
        }
        return row
    }
}
