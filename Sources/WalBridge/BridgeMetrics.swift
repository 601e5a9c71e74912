import Metrics

/// The bridge's metrics (DESIGN: metrics), through swift-metrics. Without a
/// metrics backend bootstrapped they cost next to nothing.
public struct BridgeMetrics: Sendable {
    public let transactions = Counter(label: "walbridge_transactions_total")
    public let eventsDeadLettered = Counter(label: "walbridge_events_dead_lettered_total")
    public let reconnects = Counter(label: "walbridge_reconnects_total")
    public let checkpointLSN = Gauge(label: "walbridge_checkpoint_lsn")
    public let inflightEvents = Gauge(label: "walbridge_inflight_events")

    public init() {}
}
