import PostgresReplication

/// `postgres.replay_window`: WalBridge confirms to the slot only positions
/// that were delivered at least `window` ago, so the slot keeps that much WAL
/// and any LSN delivered inside the window can be replayed with `--from-lsn`.
/// The checkpoint still moves at once, so a normal restart publishes nothing twice.
///
/// A pure value: the caller passes the time (any monotonic clock, in nanoseconds).
public struct ReplayWindow: Sendable {
    private let windowNanoseconds: UInt64
    /// Delivered positions not yet old enough, oldest first.
    private var pending = FIFOArray<(lsn: LSN, at: UInt64)>(compactAfter: 1024)
    private var newestRecorded: LSN = .zero

    public init(window: Duration) {
        let components = window.components
        windowNanoseconds = UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds) / 1_000_000_000)
    }

    /// True when the window is zero: every delivered position is confirmed at once.
    public var isImmediate: Bool { windowNanoseconds == 0 }

    /// Records that everything up to `lsn` was delivered at `now`.
    public mutating func delivered(_ lsn: LSN, now: UInt64) {
        guard lsn > newestRecorded else { return }
        newestRecorded = lsn
        // Positions delivered within one millisecond share an entry: bounded memory.
        if let last = pending.last, now &- last.at < 1_000_000 {
            pending[pending.count - 1].lsn = lsn
        } else {
            pending.append((lsn, now))
        }
    }

    /// The newest position delivered at least `window` before `now`, if one became confirmable.
    public mutating func confirmable(now: UInt64) -> LSN? {
        var result: LSN?
        while let first = pending.first, now >= first.at &+ windowNanoseconds {
            result = first.lsn
            pending.removeFirst()
        }
        return result
    }
}
