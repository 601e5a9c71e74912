import Foundation
import Logging
import PostgresReplication
import Synchronization

/// What the slot monitor saw on its last poll.
public struct SlotSample: Sendable, Hashable {
    /// When it was taken (monotonic clock).
    public var takenAt: ContinuousClock.Instant
    /// False when the slot does not exist (yet).
    public var exists: Bool
    public var active: Bool
    public var activePID: Int32?
    /// `pg_current_wal_lsn()`.
    public var serverWAL: LSN
    public var confirmedFlush: LSN?
    public var restartLSN: LSN?
    /// Server WAL position minus confirmed flush (0 when the slot is missing or ahead).
    public var lagBytes: Int64
    /// Server WAL position minus restart LSN: WAL Postgres keeps for the slot.
    public var retainedBytes: Int64
    /// How long ago Postgres wrote the oldest WAL the slot has not confirmed, to the poll interval.
    public var lagSeconds: Double
}

/// Estimates how old the unconfirmed WAL is from a history of (time, server
/// WAL position) samples: the oldest unconfirmed byte was written after the
/// newest sample at or below the confirmed position, so the lag is at least
/// the age of the sample after it. It rises in real time while the slot is
/// stuck (the broker is down) and drops to 0 once it catches up.
struct LagEstimator: Sendable {
    private var history: [(at: ContinuousClock.Instant, wal: LSN)] = []
    private let capacity: Int

    init(capacity: Int = 2048) { self.capacity = capacity }

    /// Records the server position `wal` at `now` and returns the lag in seconds of `confirmed`.
    mutating func record(wal: LSN, confirmed: LSN, now: ContinuousClock.Instant) -> Double {
        if let last = history.last, last.wal > wal { history.removeAll() }   // a new timeline or server: start over
        history.append((now, wal))
        if history.count > capacity { history.removeFirst(history.count - capacity) }
        guard confirmed < wal else {
            history.removeFirst(history.count - 1)
            return 0
        }
        // The first sample above the confirmed position: WAL written by then is still unconfirmed.
        guard let firstAbove = history.firstIndex(where: { $0.wal > confirmed }) else { return 0 }
        if firstAbove > 0 { history.removeFirst(firstAbove - 1) }
        let elapsed = now - history[firstAbove > 0 ? 1 : 0].at
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// Polls the slot over an ordinary (non-replication) connection every few
/// seconds, on a thread of its own (a `BackgroundService` of the
/// observability `ServiceGroup`), and records lag and retained WAL in the
/// metrics. Never touches the replication session: a slow or failed poll
/// cannot stall streaming. Reconnects on the next poll after a failure.
final class SlotMonitor: BackgroundService {
    let name = "walbridge-slot-monitor"
    private let url: String
    private let slot: String
    private let interval: Duration
    private let metrics: BridgeMetrics
    private let logger: Logger
    private let latest = Mutex<(sample: SlotSample?, error: String?)>((nil, nil))

    init(url: String, slot: String, interval: Duration, metrics: BridgeMetrics, logger: Logger) {
        self.url = url
        self.slot = slot
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// The last successful sample, and the last poll's error (nil when it succeeded).
    var state: (sample: SlotSample?, error: String?) { latest.withLock { $0 } }

    /// Polls until a stop is requested; between polls it sleeps the interval
    /// (cut short by the stop). A poll in progress (at most the 5 s connect
    /// timeout, or the query) finishes first.
    func run(_ stop: StopToken) {
        var connection: PostgresConnection?
        var estimator = LagEstimator()
        var failing = false
        while !stop.isRequested {
            do {
                if connection == nil || connection?.isOK == false {
                    connection = try PostgresConnection(url: url, replication: false, applicationName: "walbridge-monitor",
                                                        connectTimeoutSeconds: 5)
                }
                let sample = try poll(connection!, estimator: &estimator)
                latest.withLock { $0 = (sample, nil) }
                metrics.lag(bytes: sample.lagBytes, seconds: sample.lagSeconds)
                metrics.slotRetained(bytes: sample.retainedBytes)
                if failing {
                    failing = false
                    logger.info("slot monitor: querying Postgres again", metadata: ["slot": "\(slot)"])
                }
            } catch {
                connection = nil
                latest.withLock { $0.error = error.message }
                if !failing {
                    failing = true
                    logger.warning("slot monitor: cannot query the slot; lag metrics are stale until it can", metadata: [
                        "slot": "\(slot)", "error": "\(error.message)"])
                }
            }
            stop.sleep(for: interval)
        }
    }

    private func poll(_ connection: PostgresConnection, estimator: inout LagEstimator) throws(PostgresError) -> SlotSample {
        let now = ContinuousClock.now
        // On a standby the WAL position is the replayed one; failover readiness
        // (Postgres 17+): a failover slot, and every slot the primary's
        // synchronized_standby_slots names streaming.
        let failover = connection.version.supportsFailoverSlots
            ? """
              , s.failover AND NOT pg_catalog.pg_is_in_recovery() AND COALESCE((
                    SELECT bool_and(COALESCE(p.active, false)) AND count(*) > 0
                    FROM unnest(string_to_array(replace(current_setting('synchronized_standby_slots'), ' ', ''), ',')) AS n(name)
                    LEFT JOIN pg_catalog.pg_replication_slots p ON p.slot_name = n.name AND p.slot_type = 'physical'
                    WHERE n.name <> ''), false) AS failover_ready
              , s.failover
              """
            : ", false AS failover_ready, false AS failover"
        let result = try connection.query("""
            SELECT (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                         ELSE pg_catalog.pg_current_wal_lsn() END)::text AS wal,
                   s.confirmed_flush_lsn::text AS confirmed, s.restart_lsn::text AS restart, s.active, s.active_pid,
                   s.safe_wal_size::text AS safe\(failover)
            FROM (SELECT 1) AS one
            LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = $1
            """, parameters: [slot])
        metrics.slotFailoverReady(result.value(0, "failover_ready") == "t")
        metrics.slotIsFailoverSlot(result.value(0, "failover") == "t")
        // NULL when max_slot_wal_keep_size is unlimited (or the slot is missing or already lost).
        metrics.slotSafeWAL(bytes: result.value(0, "safe").flatMap { Int64($0) }.map { max($0, 0) })
        guard let wal = result.value(0, "wal").flatMap({ LSN($0) }) else {
            throw PostgresError(kind: .protocolViolation, message: "pg_current_wal_lsn() returned no LSN")
        }
        let confirmed = result.value(0, "confirmed").flatMap { LSN($0) }
        let restart = result.value(0, "restart").flatMap { LSN($0) }
        let exists = result.value(0, "active") != nil
        let lagBytes = confirmed.map { wal > $0 ? Int64(wal.value - $0.value) : 0 } ?? 0
        let retained = restart.map { wal > $0 ? Int64(wal.value - $0.value) : 0 } ?? 0
        let lagSeconds = confirmed.map { estimator.record(wal: wal, confirmed: $0, now: now) } ?? 0
        return SlotSample(
            takenAt: now, exists: exists, active: result.value(0, "active") == "t",
            activePID: result.value(0, "active_pid").flatMap { Int32($0) }, serverWAL: wal,
            confirmedFlush: confirmed, restartLSN: restart, lagBytes: lagBytes, retainedBytes: retained, lagSeconds: lagSeconds)
    }
}
