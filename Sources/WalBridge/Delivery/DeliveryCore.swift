import PostgresReplication

/// The delivery guarantees of one replication session as a value: inputs in
/// (a transaction begins, a record is handed to Kafka, a commit, a keepalive, a
/// delivery report, a full queue, a tick with the time, a stop, a checkpoint
/// written), actions out (produce under this token, dead-letter this, write
/// this checkpoint, confirm this position, send a status update, pause or read,
/// finished). No I/O and no clock: the shell (`StreamPipeline`) passes the time
/// in nanoseconds of any monotonic clock and performs what comes back.
///
/// It owns, once each:
/// - the unit of delivery being read (none, a skipped transaction, or an open
///   transaction or non-transactional message with its sequence number);
/// - the outstanding count per unit and in all (in its `Watermark`), and the
///   bytes in flight;
/// - the positions: `received` (the furthest the stream handed in), `delivered`
///   (everything up to it acknowledged), `checkpointed` (what the checkpoint file
///   holds) and `slotConfirmed` (what was confirmed to the slot: never past
///   `checkpointed`, and with a replay window only positions delivered at least
///   that long ago, kept by its `ReplayWindow`).
///
/// `Watermark` and `ReplayWindow` stay separate values inside it: each is one
/// rule with its own tests (the contiguous prefix of acknowledged units; the age
/// of delivered positions), and the core is what ties them to the checkpoint
/// and the slot.
///
/// Per record the core does no hashing and allocates nothing: the open unit's
/// tally is a field until its commit.
struct DeliveryCore {
    /// The session's start and its limits.
    struct Settings: Sendable {
        /// Where the stream starts: `delivered` begins here.
        var start: LSN
        /// Transactions whose commit LSN is below this were delivered before: skip them.
        var skipBelow: LSN
        /// What the checkpoint file holds when the session starts.
        var checkpointed: LSN
        /// `postgres.replay_window`.
        var replayWindow: Duration = .zero
        /// The checkpoint is written at most this often while `delivered` moves.
        var checkpointInterval: Duration = .milliseconds(100)
        /// Records handed to Kafka and not acknowledged, at most, before reading pauses.
        var maxInflightEvents = 100_000
        /// Whether `kafka.dead_letter_topic` is set: a permanent failure of one record is dead-lettered, not fatal.
        var deadLetters = false

        init(start: LSN, skipBelow: LSN, checkpointed: LSN) {
            self.start = start
            self.skipBelow = skipBelow
            self.checkpointed = checkpointed
        }
    }

    /// What the stream is in the middle of.
    enum Unit {
        /// Between units.
        case none
        /// A transaction delivered before (below `skipBelow`) until its commit.
        case skipping
        /// A transaction (with its `TransactionInfo`) or a non-transactional message (nil) being published.
        case open(sequence: UInt64, transaction: TransactionInfo?)
    }

    /// Where the session is.
    enum Phase: Equatable {
        case streaming
        /// A stop was requested: reading stopped; waiting for outstanding acknowledgements until the deadline.
        case draining(deadline: UInt64)
        case finished
    }

    /// What the shell should do next. Each input that can lead to several
    /// actions returns the first; performing it and calling `performed(now:)`
    /// (or `checkpointWritten(_:now:)` after a write) returns the next, until `.none`.
    enum Action: Equatable {
        case none
        /// Write the checkpoint at this position (with the backfill state the
        /// shell keeps), then call `checkpointWritten`.
        case writeCheckpoint(LSN)
        /// Report this flush position to the slot.
        case confirm(LSN)
        /// Not reading: let the stream send a status update if one is due,
        /// so `wal_sender_timeout` does not cut the connection (invariant 5).
        case sendStatus
        /// Drained (or the drain deadline passed): the session ends at this position.
        case finished(LSN)
    }

    /// What the shell does with a failed record.
    enum FailureAction: Equatable {
        /// Produce its dead letter under the same token; it still counts as the
        /// record's one outstanding event (invariant 6).
        case deadLetter
        /// Stop the session; the next one resumes from the checkpoint. The
        /// watermark never passes the failed record.
        case stop
    }

    /// Whether to read from the stream now.
    enum ReadDecision: Equatable {
        case read(waitMilliseconds: Int32)
        /// Backpressure (or a drain): serve delivery reports, do not read.
        case pause
    }

    /// What a commit did.
    enum CommitOutcome {
        /// Published: the unit's transaction (nil for a non-transactional
        /// message) and, when nothing of it is outstanding any more, its tally.
        case published(TransactionInfo?, settled: DeliveryTally?)
        /// A skipped transaction ended; true when it ended after the resume point (a bug to log).
        case skipped(endedAfterResume: Bool)
    }

    private enum Round {
        case checkpoint, confirm, status, finish, done
    }

    let skipBelow: LSN
    let maxInflightEvents: Int
    let deadLetters: Bool
    private let checkpointIntervalNanoseconds: UInt64
    private var watermark: Watermark
    private var replayWindow: ReplayWindow

    private(set) var unit: Unit = .none
    private(set) var phase: Phase = .streaming
    /// The furthest position the stream handed in (a commit's end, a message's LSN, an idle keepalive's WAL end).
    private(set) var received: LSN
    /// What the checkpoint file holds.
    private(set) var checkpointed: LSN
    /// What was confirmed to the slot (`.zero`: nothing yet this session).
    private(set) var slotConfirmed: LSN = .zero
    /// Bytes of records handed to Kafka whose unit is not settled.
    private(set) var inflightBytes = 0
    /// Kafka's queue refused a record: pause until the shell has handed over its backlog.
    private(set) var sinkFull = false

    /// The newest delivered position older than the replay window.
    private var aged: LSN = .zero
    private var deliveredMoved = false
    private var lastCheckpointAt: UInt64
    private var round: Round = .done
    /// The next checkpoint write ignores the interval (a moved backfill, the end of a drain).
    private var checkpointForced = false
    private var finalCheckpointDone = false
    /// The open unit's tally (a field: no hashing per record).
    private var openTally: DeliveryTally?
    /// Tallies of committed units with events outstanding.
    private var settling: [UInt64: DeliveryTally] = [:]

    /// - Parameter now: the time the session starts (the first checkpoint write waits an interval from here).
    init(_ settings: Settings, now: UInt64) {
        skipBelow = settings.skipBelow
        maxInflightEvents = settings.maxInflightEvents
        deadLetters = settings.deadLetters
        checkpointIntervalNanoseconds = Self.nanoseconds(settings.checkpointInterval)
        watermark = Watermark(start: settings.start)
        replayWindow = ReplayWindow(window: settings.replayWindow)
        received = settings.start
        checkpointed = settings.checkpointed
        lastCheckpointAt = now
    }

    // MARK: - State

    /// Everything up to here is acknowledged by Kafka (invariant 2).
    var delivered: LSN { watermark.confirmed }
    /// Records handed to Kafka and not yet acknowledged.
    var outstandingEvents: Int { watermark.outstandingEvents }
    /// Nothing open and nothing awaiting delivery.
    var isIdle: Bool {
        if case .none = unit { return watermark.isIdle }
        return false
    }
    /// The open transaction being published (nil between units, while skipping, and for a non-transactional message).
    var transaction: TransactionInfo? {
        if case .open(_, let transaction) = unit { return transaction }
        return nil
    }
    var isSkipping: Bool {
        if case .skipping = unit { return true }
        return false
    }

    /// Whether to read now, and how long to wait for the first message.
    var readDecision: ReadDecision {
        guard phase == .streaming, !sinkFull, outstandingEvents < maxInflightEvents else { return .pause }
        return .read(waitMilliseconds: outstandingEvents > 0 ? 2 : 100)
    }

    // MARK: - Stream inputs

    /// A transaction begins. Returns false when it was delivered before (skipped until its commit).
    mutating func begin(_ info: TransactionInfo) -> Bool {
        precondition(isBetweenUnits, "Begin while a unit is open")
        // A transaction whose commit record starts below the resume point ended
        // at or below it (commit records do not overlap): it was delivered.
        if info.commitLSN < skipBelow {
            unit = .skipping
            return false
        }
        unit = .open(sequence: watermark.beginTransaction(), transaction: info)
        return true
    }

    /// A non-transactional logical message at `lsn` becomes its own unit.
    /// Returns false when it was delivered before. Commit it with `commit(endLSN: lsn)`.
    mutating func beginMessage(lsn: LSN) -> Bool {
        precondition(isBetweenUnits, "a non-transactional message while a unit is open")
        guard lsn >= skipBelow else { return false }
        unit = .open(sequence: watermark.beginTransaction(), transaction: nil)
        return true
    }

    /// The token to produce a record of the open unit under, with its label
    /// (`DeliveryToken.unlabelled` for none); nil when no unit is open (skipping).
    func token(label: Int) -> DeliveryToken? {
        guard case .open(let sequence, _) = unit else { return nil }
        return DeliveryToken(sequence: sequence, label: label)
    }

    /// The shell hands a record of the open unit to Kafka (or queues it to, in
    /// order, when Kafka's queue is full): one more event outstanding.
    /// `now` is read for a unit's first record only.
    mutating func enqueued(_ token: DeliveryToken, bytes: Int, now: @autoclosure () -> UInt64) {
        guard case .open(let sequence, _) = unit, sequence == token.sequence else {
            preconditionFailure("a record enqueued outside its open unit")
        }
        watermark.eventSent(token: sequence)
        inflightBytes += bytes
        if openTally == nil { openTally = DeliveryTally(firstSent: now()) }
        openTally!.add(label: token.label ?? DeliveryToken.unlabelled, bytes: bytes)
    }

    /// The open unit commits (its Commit's end LSN, or a message's LSN).
    mutating func commit(endLSN: LSN) -> CommitOutcome {
        switch unit {
        case .none:
            preconditionFailure("Commit without a unit")
        case .skipping:
            unit = .none
            return .skipped(endedAfterResume: endLSN > skipBelow)
        case .open(let sequence, let transaction):
            unit = .none
            if endLSN > received { received = endLSN }
            if watermark.commit(endLSN: endLSN) { deliveredMoved = true }
            let tally = openTally
            openTally = nil
            if watermark.isSettled(token: sequence) {
                if let tally { inflightBytes -= tally.bytes }
                return .published(transaction, settled: tally)
            }
            if let tally { settling[sequence] = tally }
            return .published(transaction, settled: nil)
        }
    }

    /// A keepalive: with nothing open or outstanding, everything the server
    /// sent up to `walEnd` is handled (invariant 3). Returns true when `delivered` moved.
    @discardableResult
    mutating func keepalive(walEnd: LSN) -> Bool {
        guard isBetweenUnits, watermark.idle(walEnd: walEnd) else { return false }
        if walEnd > received { received = walEnd }
        deliveredMoved = true
        return true
    }

    // MARK: - Kafka inputs

    /// Kafka acknowledged a record. Returns its unit's tally when the unit is
    /// committed and nothing of it is outstanding any more (for the metrics).
    mutating func acknowledged(_ token: DeliveryToken) -> DeliveryTally? {
        let sequence = token.sequence
        if watermark.acknowledge(token: sequence) { deliveredMoved = true }
        guard watermark.isSettled(token: sequence), let tally = settling.removeValue(forKey: sequence) else { return nil }
        inflightBytes -= tally.bytes
        return tally
    }

    /// A record failed, at `produce` or in its delivery report. A permanent
    /// failure of a record that is not itself a dead letter is dead-lettered
    /// when a dead-letter topic is set (the record leaves its label's counts);
    /// anything else stops the session without moving the watermark (invariant 6).
    mutating func failed(_ token: DeliveryToken, permanent: Bool, isDeadLetter: Bool) -> FailureAction {
        guard permanent, deadLetters, !isDeadLetter else { return .stop }
        if let label = token.label {
            if case .open(let sequence, _) = unit, sequence == token.sequence {
                openTally?.remove(label: label)
            } else {
                settling[token.sequence]?.remove(label: label)
            }
        }
        return .deadLetter
    }

    /// Kafka's queue is full: the shell keeps the records it could not hand
    /// over, in order, and the core pauses reading until `sinkAccepting()`.
    mutating func sinkRefused() {
        sinkFull = true
    }

    /// The shell handed its whole backlog to Kafka.
    mutating func sinkAccepting() {
        sinkFull = false
    }

    // MARK: - Time, stop, checkpoints

    /// A stop was requested: stop reading, and finish once nothing is
    /// outstanding or `timeout` has passed.
    mutating func stop(now: UInt64, timeout: Duration) {
        guard phase == .streaming else { return }
        phase = .draining(deadline: now &+ Self.nanoseconds(timeout))
    }

    /// Starts a round of time-driven work; returns its first action.
    /// - Parameters:
    ///   - sideChanged: the backfill state to checkpoint differs from the file's (it is written with the next checkpoint).
    ///   - sideMoved: it moved just now: write without waiting for the interval.
    mutating func tick(now: UInt64, sideChanged: Bool = false, sideMoved: Bool = false) -> Action {
        if deliveredMoved {
            deliveredMoved = false
            if !replayWindow.isImmediate { replayWindow.delivered(delivered, now: now) }
        }
        self.sideChanged = sideChanged
        statusAsked = false
        if sideMoved && sideChanged { checkpointForced = true }
        round = .checkpoint
        return next(now: now)
    }

    /// The checkpoint file holds `lsn` now; returns the next action of the round.
    mutating func checkpointWritten(_ lsn: LSN, now: UInt64) -> Action {
        if lsn > checkpointed { checkpointed = lsn }
        sideChanged = false
        lastCheckpointAt = now
        return next(now: now)
    }

    /// The last action is done; returns the next one of the round.
    mutating func performed(now: UInt64) -> Action {
        next(now: now)
    }

    /// Forces the next checkpoint write (the shell's side state must reach the file now).
    mutating func forceCheckpoint() {
        checkpointForced = true
    }

    private var sideChanged = false
    /// A status update was asked for in this round already.
    private var statusAsked = false

    private var isBetweenUnits: Bool {
        if case .none = unit { return true }
        return false
    }

    private mutating func next(now: UInt64) -> Action {
        while true {
            switch round {
            case .checkpoint:
                round = .confirm
                let lsn = delivered
                guard lsn > checkpointed || (sideChanged && lsn >= checkpointed) else { continue }
                guard checkpointForced || now &- lastCheckpointAt >= checkpointIntervalNanoseconds else { continue }
                checkpointForced = false
                return .writeCheckpoint(lsn)
            case .confirm:
                round = .status
                // The slot is never confirmed past the checkpoint file: so WalBridge's
                // own slot is never ahead of its checkpoint (see `SlotContinuity`).
                let target: LSN
                if replayWindow.isImmediate {
                    target = checkpointed
                } else {
                    if let old = replayWindow.confirmable(now: now), old > aged { aged = old }
                    target = min(aged, checkpointed)
                }
                guard target > slotConfirmed else { continue }
                slotConfirmed = target
                return .confirm(target)
            case .status:
                round = .finish
                if readDecision == .pause && !statusAsked {
                    statusAsked = true
                    return .sendStatus
                }
            case .finish:
                round = .done
                guard case .draining(let deadline) = phase, outstandingEvents == 0 || now >= deadline else { continue }
                if !finalCheckpointDone {
                    // The final checkpoint: written at once, then confirmed.
                    finalCheckpointDone = true
                    checkpointForced = true
                    round = .checkpoint
                    continue
                }
                phase = .finished
                return .finished(delivered)
            case .done:
                return .none
            }
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let components = duration.components
        return UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds) / 1_000_000_000)
    }
}
