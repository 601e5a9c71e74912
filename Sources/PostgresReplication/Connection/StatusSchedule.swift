/// When a replication session talks back to the walsender, and when it gives
/// the connection up: the timing rules of `ReplicationStream` as pure code.
///
/// A value type without I/O and without a clock: every method takes the
/// current instant, so the rules are unit-tested with made-up times.
///
/// - A standby status update is due when the server asked for one, when the
///   confirmed position advanced at least `confirmDelay` ago, or when
///   `statusInterval` passed since the last one.
/// - The walsender is taken as dead after `deadAfter` without a message; at
///   half of that the session asks it for a reply, which a live walsender
///   sends at once. Silence counts only while the consumer reads: a pause of
///   more than a second between reads (backpressure) is not the server's.
/// - What could not be sent (a stalled socket) is given `deadAfter` too.
public struct StatusSchedule: Sendable {
    /// Status updates are sent at least this often.
    public var statusInterval: Duration
    /// A newly confirmed position is reported at most this long after it advances.
    public var confirmDelay: Duration
    /// How long the walsender may stay silent, or what was queued stay
    /// unsent, before the connection is taken as dead.
    public var deadAfter: Duration

    private var lastStatusSent: ContinuousClock.Instant
    private var lastMessageAt: ContinuousClock.Instant
    private var lastReadAt: ContinuousClock.Instant
    private var pinged = false
    private var unsentSince: ContinuousClock.Instant?
    private var confirmedAt: ContinuousClock.Instant?
    /// The server asked for a reply (a keepalive with its reply flag).
    public private(set) var replyRequested = false

    /// What the walsender's silence means, from `liveness(now:)`.
    public enum Liveness: Equatable, Sendable {
        case alive
        /// Half of `deadAfter` passed without a message: send a status update that asks for a reply.
        case ping
        /// `deadAfter` passed without a message (the silence so far).
        case dead(silence: Duration)
    }

    /// What a flush of the send buffer means, from `flushed(_:now:)`.
    public enum SendState: Equatable, Sendable {
        case fine
        /// Nothing could be sent for `deadAfter` (how long so far).
        case stalled(for: Duration)
    }

    public init(statusInterval: Duration, confirmDelay: Duration = .milliseconds(5), deadAfter: Duration, now: ContinuousClock.Instant) {
        self.statusInterval = statusInterval
        self.confirmDelay = confirmDelay
        self.deadAfter = deadAfter
        lastStatusSent = now
        lastMessageAt = now
        lastReadAt = now
    }

    /// The consumer confirmed a new position: report it within `confirmDelay`.
    public mutating func confirmed(now: ContinuousClock.Instant) {
        if confirmedAt == nil { confirmedAt = now }
    }

    /// A message arrived from the walsender.
    public mutating func messageReceived(now: ContinuousClock.Instant) {
        lastMessageAt = now
        pinged = false
    }

    /// The server asked for a reply (a keepalive with its reply flag): a status update is due now.
    public mutating func replyAsked() {
        replyRequested = true
    }

    /// A read begins: a pause of more than a second since the last read was
    /// the consumer's (backpressure), not the walsender's silence.
    public mutating func readStarted(now: ContinuousClock.Instant) {
        let gap = now - lastReadAt
        if gap > .seconds(1) { lastMessageAt += gap }
    }

    /// A read ended.
    public mutating func readEnded(now: ContinuousClock.Instant) {
        lastReadAt = now
    }

    /// Whether a status update should be sent now.
    public func isStatusDue(now: ContinuousClock.Instant) -> Bool {
        let advancedLongEnough = confirmedAt.map { now - $0 >= confirmDelay } ?? false
        return replyRequested || advancedLongEnough || now - lastStatusSent >= statusInterval
    }

    /// A status update went into the send buffer (`reported`: the confirmed
    /// position it carried), or was skipped because the buffer was full
    /// (`reported: false`: the next one carries newer positions).
    public mutating func statusSent(now: ContinuousClock.Instant, reported: Bool) {
        lastStatusSent = now
        guard reported else { return }
        confirmedAt = nil
        replyRequested = false
    }

    /// After a flush of the send buffer: `flushed` is whether it emptied.
    public mutating func flushed(_ flushed: Bool, now: ContinuousClock.Instant) -> SendState {
        if flushed {
            unsentSince = nil
            return .fine
        }
        guard let unsentSince else {
            unsentSince = now
            return .fine
        }
        return now - unsentSince >= deadAfter ? .stalled(for: now - unsentSince) : .fine
    }

    /// What the walsender's silence means now; `.ping` is answered once per silence.
    public mutating func liveness(now: ContinuousClock.Instant) -> Liveness {
        let silence = now - lastMessageAt
        if silence >= deadAfter { return .dead(silence: silence) }
        if silence >= deadAfter / 2 && !pinged {
            pinged = true
            return .ping
        }
        return .alive
    }

    /// Milliseconds until a status update is due (at least 1), for poll timeouts.
    public func millisecondsUntilDue(now: ContinuousClock.Instant) -> Int32 {
        if replyRequested { return 1 }
        var due = lastStatusSent + statusInterval
        if let confirmedAt { due = min(due, confirmedAt + confirmDelay) }
        let remaining = due - now
        let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }
}
