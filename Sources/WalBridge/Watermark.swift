import PostgresReplication

/// The delivery watermark: the highest LSN up to which every transaction's
/// events are acknowledged by Kafka (docs/delivery.md, "The promises": nothing committed is lost).
///
/// Transactions are tracked in stream (commit) order, each with a count of
/// events not yet acknowledged. Delivery reports arrive in any order across
/// partitions; the watermark moves over the contiguous prefix of transactions
/// that are both committed (their end LSN is known) and fully acknowledged.
/// A pure value: no I/O, no clock.
public struct Watermark: Sendable {
    /// A transaction still holding the watermark back.
    struct Pending: Sendable {
        var endLSN: LSN?
        var outstanding: Int
    }

    /// Pending transactions, oldest first; `pending[0]` has sequence number `headSequence`.
    private var pending = FIFOArray<Pending>(compactAfter: 4096)
    private var headSequence: UInt64 = 0
    /// True between a Begin and its Commit: the newest pending transaction has no end yet.
    public var inTransaction: Bool { pending.last.map { $0.endLSN == nil } ?? false }

    /// Everything up to here is delivered.
    public private(set) var confirmed: LSN
    /// Events handed to Kafka and not yet acknowledged.
    public private(set) var outstandingEvents = 0

    public init(start: LSN) {
        confirmed = start
    }

    /// True when nothing is open or awaiting delivery.
    public var isIdle: Bool { !inTransaction && pending.isEmpty }

    /// Opens the next transaction and returns its token (to tag its events with).
    public mutating func beginTransaction() -> UInt64 {
        precondition(!inTransaction, "beginTransaction while a transaction is open")
        pending.append(Pending(endLSN: nil, outstanding: 0))
        return headSequence + UInt64(pending.count - 1)
    }

    /// Counts one more event of the open transaction as handed to Kafka.
    public mutating func eventSent(token: UInt64) {
        let index = self.index(of: token)
        pending[index].outstanding += 1
        outstandingEvents += 1
    }

    /// Closes the open transaction with its end LSN. Returns true when the
    /// watermark advanced (a transaction without outstanding events completes at once).
    @discardableResult
    public mutating func commit(endLSN: LSN) -> Bool {
        precondition(inTransaction, "commit without an open transaction")
        pending[pending.count - 1].endLSN = endLSN
        return advance()
    }

    /// Records Kafka's acknowledgement of one event of transaction `token`.
    /// Returns true when the watermark advanced.
    @discardableResult
    public mutating func acknowledge(token: UInt64) -> Bool {
        let index = self.index(of: token)
        precondition(pending[index].outstanding > 0, "acknowledgement for a transaction with nothing outstanding")
        pending[index].outstanding -= 1
        outstandingEvents -= 1
        return index == 0 && advance()
    }

    /// With nothing open and nothing outstanding, everything the server has sent
    /// up to `walEnd` (a keepalive's position) is handled: confirm it, so an idle
    /// slot does not pin WAL (docs/delivery.md, "The promises": idle slots do not pin WAL). Returns true when it advanced.
    @discardableResult
    public mutating func idle(walEnd: LSN) -> Bool {
        guard isIdle, walEnd > confirmed else { return false }
        confirmed = walEnd
        return true
    }

    /// Forgets every pending transaction (after the producer was rebuilt and the
    /// stream restarts from `confirmed`).
    public mutating func reset() {
        pending.removeAll()
        headSequence = 0
        outstandingEvents = 0
    }

    /// True when transaction `token` is committed and all its events are
    /// acknowledged (whether or not the watermark has passed it yet).
    public func isSettled(token: UInt64) -> Bool {
        guard token >= headSequence else { return true }
        let index = Int(token - headSequence)
        guard index < pending.count else { return false }
        return pending[index].endLSN != nil && pending[index].outstanding == 0
    }

    /// Tokens of transactions that are still pending (committed or not).
    public var pendingTransactionCount: Int { pending.count }

    private func index(of token: UInt64) -> Int {
        precondition(token >= headSequence, "token of a transaction that already completed")
        let index = Int(token - headSequence)
        precondition(index < pending.count, "token of an unknown transaction")
        return index
    }

    private mutating func advance() -> Bool {
        var advanced = false
        while let first = pending.first, let end = first.endLSN, first.outstanding == 0 {
            if end > confirmed { confirmed = end }
            pending.removeFirst()
            headSequence += 1
            advanced = true
        }
        return advanced
    }
}
