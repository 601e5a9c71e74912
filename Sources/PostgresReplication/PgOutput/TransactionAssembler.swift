import Logging

/// Turns the pgoutput message stream into transactions of typed row changes.
///
/// A state machine without I/O (but for one warning line per kind of
/// unsolicited message, below): feed every `PgOutputMessage` in stream
/// order to `process(_:)`, act on the returned `AssembledItem`. It keeps the
/// relation cache (replaced on each Relation message) and the `TypeRegistry`
/// (fed by Type messages), numbers the changes of each transaction
/// (`RowChange.ordinal` counts every Insert, Update, Delete and Truncate,
/// whether or not it succeeds or is mapped) and, separately, its
/// transactional logical messages.
///
/// Errors: see `TransactionAssemblerError`. After a per-change error the
/// state has advanced exactly as for a good change.
///
/// ## Messages of protocols 2 to 4
///
/// The session asks for protocol 1, so the messages of streaming (protocol
/// 2) and two-phase commit (protocol 3) should never come. Postgres 18 has
/// been seen to send them anyway: a Stream Abort after a subtransaction
/// rolled back in a large transaction (estuary/connectors#5228). Each such
/// message is skipped — it yields no item, takes no ordinal and leaves the
/// open transaction as it was — and the first of each kind in a session is
/// logged at warning level with its ids and LSNs (never row values). Kind by kind:
///
/// - Stream Abort: skipped, also in the middle of a transaction. With
///   protocol 1 Postgres sends a transaction only once it committed, without
///   the changes of its rolled-back subtransactions, so there is nothing of
///   the aborted (sub)transaction to take back: the stray abort never aborts
///   the open transaction, whatever its xid.
/// - Stream Start, Stream Stop and the messages between them
///   (`.streamed`): skipped. The stream's changes are remembered by the
///   (sub)transaction xid they carry until a Stream Abort of that
///   subtransaction or of the whole transaction. Relation and Type messages
///   inside a stream are not applied either: Postgres sends one only before a
///   change of the same (sub)transaction, and describes the table again
///   outside the stream unless that change was committed — which is refused
///   (next point) and ends the session.
/// - Stream Commit: skipped, unless the stream held changes: then they
///   were never delivered, and rather than lose a committed transaction the
///   assembler throws `.undeliverableTransaction` (a stream error).
/// - Begin Prepare … Prepare: the changes in between are consumed without
///   items (no ordinals); Relation and Type messages are applied, as they are
///   not sent again. A prepared transaction with changes is remembered by gid.
/// - Commit Prepared: skipped, unless its gid is remembered: then
///   `.undeliverableTransaction`, as for Stream Commit.
/// - Rollback Prepared: skipped (forgets the gid). Stream Prepare: skipped;
///   a remembered stream becomes a remembered gid.
public struct TransactionAssembler: Sendable {
    private enum State: Sendable {
        case idle
        case inTransaction(TransactionInfo, nextChange: Int, nextMessage: Int)
        /// Between an unsolicited Begin Prepare and its Prepare (`skippedPrepareGID`):
        /// changes are skipped. (No String here: the hot path copies `State`.)
        case inSkippedPrepare(hasChanges: Bool)
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
    /// Where the first skipped message of each kind is reported.
    public var logger: Logger
    /// Messages of protocols 2 to 4 skipped since the last `reset()`.
    public private(set) var unsolicitedMessagesSkipped = 0
    /// The kinds already logged since the last `reset()`.
    private var unsolicitedKindsLogged: Set<String> = []
    /// The top-level xid of the stream block being skipped.
    private var skippedStreamXID: UInt32?
    /// Skipped streams that held changes: top-level xid → the (sub)transaction
    /// xids the changes carried (a Stream Abort of a subtransaction takes its own back).
    private var streamsWithChanges: [UInt32: Set<UInt32>] = [:]
    /// The gid of the prepared transaction being skipped.
    private var skippedPrepareGID = ""
    /// Gids of skipped prepared transactions that held changes.
    private var preparedWithChanges: Set<String> = []

    public init(valueDecoder: PostgresValueDecoder = PostgresValueDecoder(),
                logger: Logger = Logger(label: "walbridge.pgoutput")) {
        self.valueDecoder = valueDecoder
        self.logger = logger
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
        unsolicitedMessagesSkipped = 0
        unsolicitedKindsLogged = []
        skippedStreamXID = nil
        skippedPrepareGID = ""
        streamsWithChanges = [:]
        preparedWithChanges = []
    }

    /// Applies one message. Returns nil for Origin and Type messages, and for
    /// the messages of protocols 2 to 4, which are skipped (see above).
    public mutating func process(_ message: PgOutputMessage) throws(TransactionAssemblerError) -> AssembledItem? {
        switch message {
        case let .begin(finalLSN, commitTime, xid):
            switch state {
            case .idle: break
            case let .inTransaction(open, _, _):
                throw TransactionAssemblerError(.beginInsideTransaction(newXID: xid), transaction: open)
            case .inSkippedPrepare:
                throw TransactionAssemblerError(.beginInsideTransaction(newXID: xid), transaction: nil)
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
            guard let (info, ordinal) = try takeChangeOrdinal("Insert") else { return nil }
            let relation = try relation(relationID, info, ordinal)
            let row = try decodeRow(new, relation, info, ordinal)
            return .change(RowChange(operation: .insert, relation: relation, new: row, old: nil, oldKind: nil, ordinal: ordinal))

        case let .update(relationID, old, oldKind, new):
            guard let (info, ordinal) = try takeChangeOrdinal("Update") else { return nil }
            let relation = try relation(relationID, info, ordinal)
            let oldRow = try old.map { (tuple) throws(TransactionAssemblerError) in try decodeRow(tuple, relation, info, ordinal) }
            let newRow = try decodeRow(new, relation, info, ordinal)
            return .change(RowChange(operation: .update, relation: relation, new: newRow, old: oldRow,
                                     oldKind: oldRow == nil ? nil : oldKind, ordinal: ordinal))

        case let .delete(relationID, old, oldKind):
            guard let (info, ordinal) = try takeChangeOrdinal("Delete") else { return nil }
            let relation = try relation(relationID, info, ordinal)
            let oldRow = try decodeRow(old, relation, info, ordinal)
            return .change(RowChange(operation: .delete, relation: relation, new: nil, old: oldRow, oldKind: oldKind, ordinal: ordinal))

        case let .truncate(relationIDs, cascade, restartIdentity):
            guard let (info, ordinal) = try takeChangeOrdinal("Truncate") else { return nil }
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
            switch state {
            case let .inTransaction(info, nextChange, nextMessage):
                state = .inTransaction(info, nextChange: nextChange, nextMessage: nextMessage + 1)
                return .message(logical, transactionOrdinal: nextMessage)
            case .inSkippedPrepare:
                state = .inSkippedPrepare(hasChanges: true)
                return nil
            case .idle:
                throw TransactionAssemblerError(.outsideTransaction(messageKind: "transactional Message"), transaction: nil)
            }

        case .streamStart, .streamStop, .streamCommit, .streamAbort, .streamed,
             .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare:
            try skipUnsolicited(message)
            return nil
        }
    }

    /// Claims the next change ordinal of the open transaction; nil inside a
    /// skipped prepared transaction (the change is consumed without an item).
    private mutating func takeChangeOrdinal(_ kind: String) throws(TransactionAssemblerError) -> (TransactionInfo, Int)? {
        switch state {
        case let .inTransaction(info, nextChange, nextMessage):
            state = .inTransaction(info, nextChange: nextChange + 1, nextMessage: nextMessage)
            return (info, nextChange)
        case .inSkippedPrepare:
            state = .inSkippedPrepare(hasChanges: true)
            return nil
        case .idle:
            throw TransactionAssemblerError(.outsideTransaction(messageKind: kind), transaction: nil)
        }
    }

    // MARK: - Messages of protocols 2 to 4

    /// Skips a streaming or two-phase message (see the type's documentation).
    /// Throws only when skipping would lose the changes of a committed transaction;
    /// the state is then unchanged.
    private mutating func skipUnsolicited(_ message: PgOutputMessage) throws(TransactionAssemblerError) {
        switch message {
        case let .streamStart(xid, _):
            skippedStreamXID = xid
        case .streamStop:
            skippedStreamXID = nil
        case let .streamed(xid, inner):
            if Self.carriesChanges(inner) { streamsWithChanges[skippedStreamXID ?? xid, default: []].insert(xid) }
        case let .streamAbort(xid, subtransactionXID, _, _):
            // A subtransaction's abort takes back its own changes, not the rest of the stream's.
            if xid == subtransactionXID {
                streamsWithChanges[xid] = nil
            } else if var xids = streamsWithChanges[xid] {
                xids.remove(subtransactionXID)
                streamsWithChanges[xid] = xids.isEmpty ? nil : xids
            }
        case let .streamCommit(xid, _, commitLSN, endLSN, _):
            if streamsWithChanges[xid] != nil {
                throw TransactionAssemblerError(
                    .undeliverableTransaction(kind: "Stream Commit", xid: xid, gid: nil, commitLSN: commitLSN, endLSN: endLSN),
                    transaction: currentTransaction)
            }
        case let .streamPrepare(_, prepared):
            if streamsWithChanges.removeValue(forKey: prepared.xid) != nil { preparedWithChanges.insert(prepared.gid) }
        case let .beginPrepare(prepared):
            switch state {
            case .idle:
                state = .inSkippedPrepare(hasChanges: false)
                skippedPrepareGID = prepared.gid
            case let .inTransaction(open, _, _):
                throw TransactionAssemblerError(.beginInsideTransaction(newXID: prepared.xid), transaction: open)
            case .inSkippedPrepare:
                throw TransactionAssemblerError(.beginInsideTransaction(newXID: prepared.xid), transaction: nil)
            }
        case .prepare:
            // A Prepare without a Begin Prepare consumed nothing: skipped as it is.
            if case let .inSkippedPrepare(hasChanges) = state {
                state = .idle
                if hasChanges { preparedWithChanges.insert(skippedPrepareGID) }
            }
        case let .commitPrepared(_, commitLSN, endLSN, _, xid, gid):
            if preparedWithChanges.contains(gid) {
                throw TransactionAssemblerError(
                    .undeliverableTransaction(kind: "Commit Prepared", xid: xid, gid: gid, commitLSN: commitLSN, endLSN: endLSN),
                    transaction: currentTransaction)
            }
        case let .rollbackPrepared(_, _, _, _, _, _, gid):
            preparedWithChanges.remove(gid)
        case .begin, .commit, .origin, .relation, .type, .insert, .update, .delete, .truncate, .message:
            return  // protocol 1: never passed here
        }
        unsolicitedMessagesSkipped += 1
        let kind = message.isStreamed ? "streamed " + message.kindName : message.kindName
        if unsolicitedKindsLogged.insert(kind).inserted {
            logger.warning(
                "Postgres sent a pgoutput \(kind) message, which this protocol \(ReplicationStream.protocolVersion) session did not ask for; skipped (further \(kind) messages in this session are skipped without a warning)",
                metadata: ["message": "\(Self.summary(of: message))"])
        }
    }

    /// An Insert, Update, Delete, Truncate or transactional Message: something a consumer would have received.
    private static func carriesChanges(_ message: PgOutputMessage) -> Bool {
        switch message {
        case .insert, .update, .delete, .truncate: true
        case .message(let logical): logical.transactional
        default: false
        }
    }

    /// Ids and LSNs of a skipped message, for the log; never row values or message content.
    static func summary(of message: PgOutputMessage) -> String {
        switch message {
        case let .streamStart(xid, first):
            return "Stream Start xid \(xid)\(first ? " (first segment)" : "")"
        case .streamStop:
            return "Stream Stop"
        case let .streamCommit(xid, _, commitLSN, endLSN, _):
            return "Stream Commit xid \(xid) commit LSN \(commitLSN) end LSN \(endLSN)"
        case let .streamAbort(xid, subxid, abortLSN, _):
            return "Stream Abort xid \(xid) subtransaction \(subxid)" + (abortLSN.map { " abort LSN \($0)" } ?? "")
        case let .streamed(xid, inner):
            let what: String
            switch inner {
            case let .relation(relation): what = "Relation \(relation.id) (\(relation.namespace).\(relation.name))"
            case let .type(type): what = "Type \(type.oid)"
            case let .insert(id, _), let .update(id, _, _, _), let .delete(id, _, _): what = "\(inner.kindName) of relation \(id)"
            case let .truncate(ids, _, _): what = "Truncate of relations \(ids)"
            case let .message(logical): what = "Message with prefix \(logical.prefix), \(logical.content.count) bytes"
            default: what = inner.kindName
            }
            return "\(what) in stream of xid \(xid)"
        case let .beginPrepare(prepared):
            return "Begin Prepare xid \(prepared.xid) gid \(prepared.gid) prepare LSN \(prepared.prepareLSN)"
        case let .prepare(_, prepared):
            return "Prepare xid \(prepared.xid) gid \(prepared.gid) prepare LSN \(prepared.prepareLSN)"
        case let .streamPrepare(_, prepared):
            return "Stream Prepare xid \(prepared.xid) gid \(prepared.gid) prepare LSN \(prepared.prepareLSN)"
        case let .commitPrepared(_, commitLSN, _, _, xid, gid):
            return "Commit Prepared xid \(xid) gid \(gid) commit LSN \(commitLSN)"
        case let .rollbackPrepared(_, _, rollbackEndLSN, _, _, xid, gid):
            return "Rollback Prepared xid \(xid) gid \(gid) end LSN \(rollbackEndLSN)"
        default:
            return message.kindName
        }
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
