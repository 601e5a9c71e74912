import Foundation

/// Whether the bridge should receive traffic (`/readyz`), and why not.
public struct Readiness: Sendable, Hashable {
    public var isReady: Bool
    /// What is wrong, one reason per line; empty when ready.
    public var reasons: [String]

    /// The `/readyz` body: `ready`, or `not ready` and the reasons.
    public var text: String {
        isReady ? "ready\n" : "not ready\n" + reasons.map { "- \($0)\n" }.joined()
    }
}

/// Decides readiness (issue 6, item 2) from what the pipeline reports through
/// `BridgeMetrics` (connected, producer healthy) and what the slot monitor sees
/// on the server (the slot is streamed, its lag):
///
/// - the slot monitor has queried Postgres within three poll intervals;
/// - connected to Postgres: as reported by `BridgeMetrics.connected(_:)`, or,
///   before anything was reported, the slot being active on the server;
/// - the producer is not reported failed (`BridgeMetrics.producerHealthy(false)`);
/// - `walbridge_lag_seconds` is at most `maxLag`;
/// - no changes lost with a recreated slot wait for their backfill (`SlotGap`).
public final class BridgeHealth: Sendable {
    private let metrics: BridgeMetrics
    private let monitor: SlotMonitor?
    public let maxLag: Duration
    private let pollInterval: Duration
    private let slot: String

    init(metrics: BridgeMetrics, monitor: SlotMonitor?, slot: String, maxLag: Duration, pollInterval: Duration) {
        self.metrics = metrics
        self.monitor = monitor
        self.slot = slot
        self.maxLag = maxLag
        self.pollInterval = pollInterval
    }

    /// Computes readiness now and records it as `walbridge_ready`.
    func recordReadiness() {
        metrics.ready(readiness().isReady)
    }

    /// Readiness now.
    public func readiness(now: ContinuousClock.Instant = .now) -> Readiness {
        var reasons: [String] = []
        let reported = metrics.reported
        let (sample, error) = monitor?.state ?? (nil, nil)
        if monitor != nil {
            if let sample {
                if now - sample.takenAt > pollInterval * 3 {
                    reasons.append("slot monitor has not queried Postgres for \((now - sample.takenAt).formatted(.units(allowed: [.seconds])))" + (error.map { ": \($0)" } ?? ""))
                }
                if !sample.exists {
                    reasons.append("replication slot '\(slot)' does not exist yet")
                }
            } else {
                reasons.append("slot monitor has not queried Postgres yet" + (error.map { ": \($0)" } ?? ""))
            }
        }
        switch reported.connected {
        case .some(false):
            reasons.append("not connected to Postgres (reconnecting)")
        case .none:
            if let sample, sample.exists, !sample.active {
                reasons.append("replication slot '\(slot)' is not being streamed")
            } else if monitor == nil {
                reasons.append("not connected to Postgres yet")
            }
        case .some(true):
            break
        }
        if let gap = reported.slotGap, gap.isHealing {
            reasons.append("replication slot was recreated: \(gap.summary); not ready until that backfill is delivered")
        }
        if reported.producerHealthy == false {
            reasons.append("the Kafka producer has failed")
        }
        if let sample, sample.lagSeconds > Double(maxLag.components.seconds) + Double(maxLag.components.attoseconds) / 1e18 {
            reasons.append("lag \(Int(sample.lagSeconds))s is above the bound of \(maxLag.formatted(.units(allowed: [.seconds])))")
        }
        return Readiness(isReady: reasons.isEmpty, reasons: reasons)
    }
}
