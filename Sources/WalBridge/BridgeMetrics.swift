import Configuration
import Metrics
import EventMapping
import PostgresReplication
import Synchronization

/// The bridge's metrics (docs/operations.md, "Metrics"), through swift-metrics.
///
/// With no backend bootstrapped they cost next to nothing; `Observability.start`
/// bootstraps the Prometheus backend once per process, so every instance, also
/// one made before `start` with an explicit factory, reports into the same
/// registry by name. Names follow Prometheus conventions:
///
/// | metric | kind | set by |
/// | --- | --- | --- |
/// | `walbridge_events_published_total{table,event}` | counter | `eventPublished(table:eventType:)` |
/// | `walbridge_events_failed_total{table,event}` | counter | `eventFailed(table:eventType:)` |
/// | `walbridge_events_dead_lettered_total` | counter | `eventDeadLettered()` |
/// | `walbridge_transactions_total` | counter | `transactionCommitted(commitTimeMicros:)` |
/// | `walbridge_read_bytes_total` | counter | `bytesRead(_:)` |
/// | `walbridge_inflight_events`, `walbridge_inflight_bytes` | gauges | `inflight(events:bytes:)` |
/// | `walbridge_checkpoint_lsn` | gauge (the LSN as a 64-bit number) | `checkpoint(_:)` |
/// | `walbridge_last_commit_timestamp_seconds` | gauge (Unix time) | `transactionCommitted(commitTimeMicros:)` |
/// | `walbridge_lag_bytes`, `walbridge_lag_seconds`, `walbridge_slot_retained_wal_bytes` | gauges | the slot monitor |
/// | `walbridge_reconnects_total` | counter | `reconnecting()` |
/// | `walbridge_delivery_seconds` | histogram | `delivery(seconds:)` / `delivery(nanoseconds:)` |
/// | `walbridge_postgres_connected`, `walbridge_producer_healthy` | gauges (0/1) | `connected(_:)`, `producerHealthy(_:)` |
/// | `walbridge_snapshot_rows{table}`, `walbridge_snapshot_rows_estimated{table}` | gauges | `snapshot(_:)` |
/// | `walbridge_snapshot_rows_per_second`, `walbridge_snapshot_eta_seconds`, `walbridge_snapshot_running` | gauges | `snapshot(_:)` |
/// | `walbridge_snapshot_rows_dropped_total` | counter | `snapshotRowsDropped(_:)` |
/// | `walbridge_slot_gap_open`, `walbridge_slot_gap_bytes` | gauges (0/1; WAL bytes lost with a recreated slot) | `slotGap(_:)` |
/// | `walbridge_postgres_standby` | gauge (1 when decoding on a hot standby, 0 on a primary) | `serverRole(standby:)` |
/// | `walbridge_slot_failover_ready` | gauge (1 when the slot would survive a failover now) | the slot monitor |
/// | `walbridge_slot_failover` | gauge (1 when the slot is a failover slot, Postgres 17+) | the slot monitor |
/// | `walbridge_slot_safe_wal_bytes` | gauge (WAL that can still be written before `max_slot_wal_keep_size` invalidates the slot; -1 unlimited) | the slot monitor |
/// | `walbridge_ready` | gauge (1 when `/readyz` would answer 200) | `ready(_:)`, at every scrape of `/metrics` |
///
/// All methods may be called from any thread.
public final class BridgeMetrics: Sendable {
    /// Label names, in one place so docs and tests can list them.
    public enum Name {
        public static let eventsPublished = "walbridge_events_published_total"
        public static let eventsFailed = "walbridge_events_failed_total"
        public static let eventsDeadLettered = "walbridge_events_dead_lettered_total"
        public static let transactions = "walbridge_transactions_total"
        public static let bytesRead = "walbridge_read_bytes_total"
        public static let inflightEvents = "walbridge_inflight_events"
        public static let inflightBytes = "walbridge_inflight_bytes"
        public static let checkpointLSN = "walbridge_checkpoint_lsn"
        public static let lastCommitTimestamp = "walbridge_last_commit_timestamp_seconds"
        public static let lagBytes = "walbridge_lag_bytes"
        public static let lagSeconds = "walbridge_lag_seconds"
        public static let slotRetainedWAL = "walbridge_slot_retained_wal_bytes"
        public static let reconnects = "walbridge_reconnects_total"
        public static let delivery = "walbridge_delivery_seconds"
        public static let postgresConnected = "walbridge_postgres_connected"
        public static let producerHealthy = "walbridge_producer_healthy"
        public static let snapshotRows = "walbridge_snapshot_rows"
        public static let snapshotRowsEstimated = "walbridge_snapshot_rows_estimated"
        public static let snapshotRate = "walbridge_snapshot_rows_per_second"
        public static let snapshotETA = "walbridge_snapshot_eta_seconds"
        public static let snapshotRunning = "walbridge_snapshot_running"
        public static let snapshotRowsDropped = "walbridge_snapshot_rows_dropped_total"
        public static let slotGapOpen = "walbridge_slot_gap_open"
        public static let slotGapBytes = "walbridge_slot_gap_bytes"
        public static let postgresStandby = "walbridge_postgres_standby"
        public static let slotFailoverReady = "walbridge_slot_failover_ready"
        public static let slotFailover = "walbridge_slot_failover"
        public static let slotSafeWAL = "walbridge_slot_safe_wal_bytes"
        public static let ready = "walbridge_ready"
        public static let updatesSkipped = "walbridge_updates_skipped_total"
        public static let updatesUnmatched = "walbridge_updates_unmatched_total"

        /// Every metric name above.
        public static let all = [
            eventsPublished, eventsFailed, eventsDeadLettered, transactions, bytesRead, inflightEvents, inflightBytes,
            checkpointLSN, lastCommitTimestamp, lagBytes, lagSeconds, slotRetainedWAL, reconnects, delivery,
            postgresConnected, producerHealthy, snapshotRows, snapshotRowsEstimated, snapshotRate, snapshotETA,
            snapshotRunning, snapshotRowsDropped, slotGapOpen, slotGapBytes, postgresStandby, slotFailoverReady, updatesSkipped, updatesUnmatched,
            slotFailover, slotSafeWAL, ready,
        ]
    }

    // Kept public for the pipeline's existing calls.
    public let transactions: Counter
    public let eventsDeadLettered: Counter
    public let reconnects: Counter
    public let checkpointLSN: Gauge
    public let inflightEvents: Gauge

    private let inflightBytesGauge: Gauge
    private let bytesReadCounter: Counter
    private let lastCommitGauge: Gauge
    private let lagBytesGauge: Gauge
    private let lagSecondsGauge: Gauge
    private let retainedGauge: Gauge
    private let deliveryTimer: Metrics.Timer
    private let connectedGauge: Gauge
    private let producerGauge: Gauge
    private let factory: any MetricsFactory
    /// Per (table, event type) counters, made once each: the factory takes a lock per creation.
    private let published = Mutex<[LabelKey: Counter]>([:])
    private let failed = Mutex<[LabelKey: Counter]>([:])
    /// What the health check needs to know, reported by the pipeline.
    private let state = Mutex(ReportedState())

    private struct LabelKey: Hashable {
        var table: String
        var eventType: String
    }

    /// The values the pipeline reports that readiness needs; nil = never reported.
    struct ReportedState: Sendable {
        var connected: Bool?
        var producerHealthy: Bool?
        var walsenderPID: Int32?
        var lastCommitMicros: Int64?
        /// Changes lost with a recreated slot, not yet backfilled (nil: none).
        var slotGap: SlotGap?
    }

    /// - Parameter factory: the metrics backend; by default the one bootstrapped
    ///   for the process (`Observability.start` bootstraps Prometheus).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        transactions = Counter(label: Name.transactions, factory: factory)
        eventsDeadLettered = Counter(label: Name.eventsDeadLettered, factory: factory)
        reconnects = Counter(label: Name.reconnects, factory: factory)
        checkpointLSN = Gauge(label: Name.checkpointLSN, factory: factory)
        inflightEvents = Gauge(label: Name.inflightEvents, factory: factory)
        inflightBytesGauge = Gauge(label: Name.inflightBytes, factory: factory)
        bytesReadCounter = Counter(label: Name.bytesRead, factory: factory)
        lastCommitGauge = Gauge(label: Name.lastCommitTimestamp, factory: factory)
        lagBytesGauge = Gauge(label: Name.lagBytes, factory: factory)
        lagSecondsGauge = Gauge(label: Name.lagSeconds, factory: factory)
        retainedGauge = Gauge(label: Name.slotRetainedWAL, factory: factory)
        deliveryTimer = Metrics.Timer(label: Name.delivery, factory: factory)
        connectedGauge = Gauge(label: Name.postgresConnected, factory: factory)
        producerGauge = Gauge(label: Name.producerHealthy, factory: factory)
    }

    // MARK: - Events and transactions (the pipeline)

    /// Kafka acknowledged one event of `table` (`schema.table`, or the message prefix) of type `eventType`.
    public func eventPublished(table: String, eventType: String, count: Int = 1) {
        counter(in: published, Name.eventsPublished, table: table, eventType: eventType).increment(by: Int64(count))
    }

    /// Creates, at 0, the published and failed counters of every (table, event
    /// type) the table and message mappings can publish, before anything
    /// streams. A counter that first appears with its first event hides that
    /// event from `rate()` and `increase()`, and a panel or alert on failures
    /// would have no series at all until the first one; Prometheus's advice is
    /// to export labelled counters from the start. (An outbox mapping's types
    /// come from its rows, so its counters appear with their first event.)
    public func prepareEventCounters(for mappings: [Mapping]) {
        for (table, eventType) in Self.eventLabels(of: mappings) {
            _ = counter(in: published, Name.eventsPublished, table: table, eventType: eventType)
            _ = counter(in: failed, Name.eventsFailed, table: table, eventType: eventType)
        }
    }

    /// The (table, event type) labels the mappings publish under: `schema.table`
    /// (the message prefix for a message mapping) and each configured event.
    static func eventLabels(of mappings: [Mapping]) -> [(table: String, eventType: String)] {
        var labels: [(String, String)] = []
        for mapping in mappings {
            switch mapping {
            case .table(let table):
                let name = table.table.schema + "." + table.table.table
                var types = [table.events.insert, table.events.update, table.events.delete, table.snapshotEventType].compactMap { $0 }
                types += table.events.updateRules.map(\.eventType)
                if case .publish(let eventType) = table.truncate { types.append(eventType) }
                var seen: Set<String> = []
                labels += types.filter { seen.insert($0).inserted }.map { (name, $0) }
            case .message(let message):
                labels.append((message.prefix, message.eventType))
            case .outbox:
                break
            }
        }
        return labels
    }

    /// One event could not be published (before it is retried or dead-lettered).
    public func eventFailed(table: String, eventType: String) {
        counter(in: failed, Name.eventsFailed, table: table, eventType: eventType).increment()
    }

    /// An update of `table` published nothing: `skip_unchanged` found none of
    /// the mapping's columns changed, or no update rule matched.
    public func updateNotPublished(table: String, _ reason: QuietUpdate) {
        let name = reason == .unchanged ? Name.updatesSkipped : Name.updatesUnmatched
        Counter(label: name, dimensions: [("table", table)], factory: factory).increment()
    }

    /// One record went to the dead-letter topic.
    public func eventDeadLettered() {
        eventsDeadLettered.increment()
    }

    /// A transaction was read to its commit; `commitTimeMicros` is its commit
    /// time in microseconds since the Unix epoch (what pgoutput's Commit carries, converted).
    public func transactionCommitted(commitTimeMicros: Int64) {
        transactions.increment()
        lastCommitGauge.record(Double(commitTimeMicros) / 1_000_000)
        state.withLock { $0.lastCommitMicros = commitTimeMicros }
    }

    /// `count` bytes of replication messages were read from Postgres.
    public func bytesRead(_ count: Int) {
        bytesReadCounter.increment(by: Int64(count))
    }

    /// Events handed to Kafka and not yet acknowledged, and their bytes.
    public func inflight(events: Int, bytes: Int) {
        inflightEvents.record(events)
        inflightBytesGauge.record(bytes)
    }

    /// The checkpoint file now holds `lsn`.
    public func checkpoint(_ lsn: LSN) {
        checkpointLSN.record(Double(lsn.value))
    }

    /// Time from handing an event to Kafka to its acknowledgement.
    public func delivery(seconds: Double) {
        deliveryTimer.recordNanoseconds(Int64(seconds * 1_000_000_000))
    }

    /// Time from handing an event to Kafka to its acknowledgement, in nanoseconds.
    public func delivery(nanoseconds: Int64) {
        deliveryTimer.recordNanoseconds(nanoseconds)
    }

    // MARK: - Backfill (the pipeline)

    /// The backfill's confirmed progress (rows delivered per table, estimates, rate, time left).
    public func snapshot(_ progress: SnapshotProgress) {
        for table in progress.tables {
            Gauge(label: Name.snapshotRows, dimensions: [("table", table.table)], factory: factory).record(table.rowsDone)
            Gauge(label: Name.snapshotRowsEstimated, dimensions: [("table", table.table)], factory: factory)
                .record(table.done ? table.rowsDone : max(table.estimatedRows, table.rowsDone))
        }
        Gauge(label: Name.snapshotRate, factory: factory).record(progress.rowsPerSecond)
        Gauge(label: Name.snapshotETA, factory: factory).record(progress.etaSeconds ?? -1)
        Gauge(label: Name.snapshotRunning, factory: factory).record(progress.tables.allSatisfy(\.done) ? 0 : 1)
    }

    /// Rows a chunk left out because the stream changed them while it was read.
    public func snapshotRowsDropped(_ count: Int) {
        Counter(label: Name.snapshotRowsDropped, factory: factory).increment(by: Int64(count))
    }

    // MARK: - Connection state (the bridge)

    /// The replication connection is up (`true`, once streaming started) or down.
    /// - Parameter walsenderPID: the walsender's PID when connected, so the health
    ///   check can tell this bridge's slot holder from another one.
    public func connected(_ isConnected: Bool, walsenderPID: Int32? = nil) {
        connectedGauge.record(isConnected ? 1 : 0)
        state.withLock {
            $0.connected = isConnected
            $0.walsenderPID = isConnected ? walsenderPID : nil
        }
    }

    /// The Kafka producer works (`true`) or has failed (a fatal or permanent error).
    public func producerHealthy(_ isHealthy: Bool) {
        producerGauge.record(isHealthy ? 1 : 0)
        state.withLock { $0.producerHealthy = isHealthy }
    }

    /// The checkpoint records changes lost with a recreated slot (`gap`), or none (nil).
    public func slotGap(_ gap: SlotGap?) {
        Gauge(label: Name.slotGapOpen, factory: factory).record(gap == nil ? 0 : 1)
        Gauge(label: Name.slotGapBytes, factory: factory).record(Int64(gap?.bytes ?? 0))
        state.withLock { $0.slotGap = gap }
    }

    /// The server this session streams from is a hot standby (`true`) or a primary.
    public func serverRole(standby: Bool) {
        Gauge(label: Name.postgresStandby, factory: factory).record(standby ? 1 : 0)
    }

    /// Whether the slot would survive a failover now (a failover slot whose
    /// standby slots all stream), from the slot monitor.
    public func slotFailoverReady(_ ready: Bool) {
        Gauge(label: Name.slotFailoverReady, factory: factory).record(ready ? 1 : 0)
    }

    /// Whether the slot is a failover slot (`pg_replication_slots.failover`,
    /// Postgres 17+; always false before), from the slot monitor. The alert on
    /// failover readiness only concerns slots that are meant to survive one.
    public func slotIsFailoverSlot(_ failover: Bool) {
        Gauge(label: Name.slotFailover, factory: factory).record(failover ? 1 : 0)
    }

    /// `/readyz`'s answer, recorded at each scrape so alerts see what the health check sees.
    public func ready(_ isReady: Bool) {
        Gauge(label: Name.ready, factory: factory).record(isReady ? 1 : 0)
    }

    /// A transient failure: the bridge reconnects.
    public func reconnecting() {
        reconnects.increment()
        connected(false)
    }

    // MARK: - Server-side numbers (the slot monitor)

    /// Server WAL position minus the slot's confirmed flush, and an estimate of how old that gap is.
    public func lag(bytes: Int64, seconds: Double) {
        lagBytesGauge.record(bytes)
        lagSecondsGauge.record(seconds)
    }

    /// Server WAL position minus the slot's restart LSN: the WAL Postgres keeps for the slot.
    public func slotRetained(bytes: Int64) {
        retainedGauge.record(bytes)
    }

    /// `pg_replication_slots.safe_wal_size`: WAL that can still be written
    /// before `max_slot_wal_keep_size` invalidates the slot; nil (recorded as
    /// -1) when that setting is unlimited.
    public func slotSafeWAL(bytes: Int64?) {
        Gauge(label: Name.slotSafeWAL, factory: factory).record(bytes ?? -1)
    }

    var reported: ReportedState { state.withLock { $0 } }

    private func counter(in cache: borrowing Mutex<[LabelKey: Counter]>, _ name: String, table: String, eventType: String) -> Counter {
        let key = LabelKey(table: table, eventType: eventType)
        return cache.withLock { counters in
            if let existing = counters[key] { return existing }
            let made = Counter(label: name, dimensions: [("table", table), ("event", eventType)], factory: factory)
            counters[key] = made
            return made
        }
    }
}
