import Foundation
import PostgresReplication

/// One frame of `walbridge status --watch`, as plain text (no escape
/// sequences): rendered from the current sample and the one before it, for
/// the rates. Pure: the same samples give the same frame.
///
/// ```
/// 2026-12-02T15:30:01Z  slot walbridge (database auth), active (PID 4242)
/// position         checkpoint 0/1A2B3C40, confirmed flush 0/1A2B3C40, server WAL 0/1A2B3D00
/// lag              1240 bytes, 0 s
/// retained WAL     16.3 MiB (17091320 bytes); safe WAL unlimited
/// events           12.0/s
///                  public.users UserRegistered  12.0/s  (240 in all)
/// …
/// ```
public enum StatusWatchFrame {
    /// The note for a configuration without `metrics.listen`.
    public static let needsListener = "set metrics.listen to see rates, in-flight events, dead letters and the last error"

    static let labelWidth = 17

    /// The frame for `current`, with rates since `previous` (nil for the first frame).
    public static func render(previous: StatusWatchSample?, current: StatusWatchSample) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + value)
        }
        let slot = try? current.slot.get()
        let metrics = current.exposition
        let before = previous?.exposition
        let seconds = previous.map { current.takenAt.timeIntervalSince($0.takenAt) } ?? 0

        // The time and the slot.
        var head = timestamp(current.takenAt)
        if let slot {
            head += "  slot \(slot.slot) (database \(slot.database)), " + (slot.active ? "active (PID \(slot.activePID.map(String.init) ?? "?"))" : "not streamed")
        }
        lines.append(head)
        if case .failure(let error) = current.slot {
            row("postgres", "cannot read the slot: \(error.message)" + (metrics != nil ? " (the lines below come from /metrics)" : ""))
        }
        if let problem = slot?.checkpointProblem { row("checkpoint", problem) }
        switch current.metrics {
        case nil:
            break
        case .failure(let problem) where problem.unreachable:
            row("walbridge run", "not reachable at \(current.listenAddress ?? "metrics.listen"): \(problem); is it running? (the watch goes on)")
        case .failure(let problem):
            row("walbridge run", "\(problem)")
        case .success:
            break
        }

        // Position, lag, retained WAL: the slot when Postgres answers, else the process's gauges.
        var position: [String] = []
        if let checkpoint = slot?.checkpointLSN ?? metrics?.value(BridgeMetrics.Name.checkpointLSN).flatMap(lsn) {
            position.append("checkpoint \(checkpoint)")
        }
        if let confirmed = slot?.confirmedFlushLSN { position.append("confirmed flush \(confirmed)") }
        if let wal = slot?.serverWALLSN { position.append("server WAL \(wal)") }
        row("position", position.isEmpty ? "-" : position.joined(separator: ", "))

        let lagBytes = slot.map { Double($0.lagBytes) } ?? metrics?.value(BridgeMetrics.Name.lagBytes)
        let lagSeconds = metrics?.value(BridgeMetrics.Name.lagSeconds)
        row("lag", [lagBytes.map { bytes(Int64($0)) }, lagSeconds.map { "\(Int($0)) s" }].compactMap { $0 }.joined(separator: ", ").nonEmpty ?? "-")

        var retained = (slot.map { Double($0.retainedWALBytes) } ?? metrics?.value(BridgeMetrics.Name.slotRetainedWAL)).map { bytes(Int64($0)) } ?? "-"
        if let safe = metrics?.value(BridgeMetrics.Name.slotSafeWAL) {
            retained += safe < 0 ? "; safe WAL unlimited" : "; safe WAL \(bytes(Int64(safe)))"
        }
        row("retained WAL", retained)

        guard current.metrics != nil else {
            snapshotRows(slot: slot, metrics: nil, row: row)
            row("metrics", needsListener)
            return lines.joined(separator: "\n")
        }

        if let metrics {
            let counters = Counters(metrics, before, seconds: seconds)
            // Events by table and event type.
            let events = metrics.samples(named: BridgeMetrics.Name.eventsPublished)
                .sorted { ($0.labels["table"] ?? "", $0.labels["event"] ?? "") < ($1.labels["table"] ?? "", $1.labels["event"] ?? "") }
            let total = counters.rate(BridgeMetrics.Name.eventsPublished)
            row("events", (total.map(rate) ?? "- (rates from the next frame on)") + (counters.restarted ? "  (counters restarted: walbridge run was restarted)" : ""))
            let nameWidth = events.map { "\($0.labels["table"] ?? "?") \($0.labels["event"] ?? "?")".count }.max() ?? 0
            for series in events {
                let name = "\(series.labels["table"] ?? "?") \(series.labels["event"] ?? "?")"
                let perSecond = counters.rate(series).map(rate) ?? "-"
                lines.append(String(repeating: " ", count: labelWidth) + name.padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0)
                    + perSecond + "  (\(count(series.value)) in all)")
            }
            row("transactions", counters.rate(BridgeMetrics.Name.transactions).map(rate) ?? "-")
            row("read", counters.rate(BridgeMetrics.Name.bytesRead).map { "\(compactBytes($0))/s" } ?? "-")
            let inflight = [
                metrics.value(BridgeMetrics.Name.inflightEvents).map { "\(count($0)) events" },
                metrics.value(BridgeMetrics.Name.inflightBytes).map { compactBytes($0) },
            ].compactMap { $0 }
            row("in flight", inflight.isEmpty ? "-" : inflight.joined(separator: ", "))
            row("dead letters", counters.totalAndNew(BridgeMetrics.Name.eventsDeadLettered))
            row("reconnects", counters.totalAndNew(BridgeMetrics.Name.reconnects))
        }
        let process = try? current.process?.get()
        if let process {
            row("ready", process.ready ? "yes" : "no: " + (process.reasons.isEmpty ? "?" : process.reasons.joined(separator: "; ")))
        } else if case .failure(let problem) = current.process, !problem.unreachable {
            row("ready", "? (\(problem))")
        }
        snapshotRows(slot: slot, metrics: metrics, row: row)
        if let process {
            row("last problem", process.lastProblem.map { problem in
                let age = max(0, Int(current.takenAt.timeIntervalSince(problem.at)))
                return "\(LoggedProblem.timestamp(problem.at)) (\(age) s ago) \(problem.level.rawValue): \(problem.message)"
                    + (problem.error.map { " (error: \($0))" } ?? "")
            } ?? "none since walbridge run started")
        }
        return lines.joined(separator: "\n")
    }

    /// The backfill: live from the process's snapshot gauges while it runs one,
    /// else the unfinished job in the checkpoint (its average rate).
    private static func snapshotRows(slot: SlotStatus?, metrics: PrometheusExposition?, row: (String, String) -> Void) {
        if let metrics, metrics.value(BridgeMetrics.Name.snapshotRunning) == 1 {
            let estimates = Dictionary(
                metrics.samples(named: BridgeMetrics.Name.snapshotRowsEstimated).map { ($0.labels["table"] ?? "?", $0.value) },
                uniquingKeysWith: { first, _ in first })
            let tables = metrics.samples(named: BridgeMetrics.Name.snapshotRows).map { series in
                let table = series.labels["table"] ?? "?"
                return progress(table: table, done: Int(series.value), estimated: estimates[table].map(Int.init) ?? -1)
            }
            var text = tables.isEmpty ? "running" : tables.joined(separator: "; ")
            if let perSecond = metrics.value(BridgeMetrics.Name.snapshotRate), perSecond > 0 {
                text += "; \(SnapshotProgress.grouped(Int(perSecond))) rows/s"
            }
            if let eta = metrics.value(BridgeMetrics.Name.snapshotETA), eta >= 0 {
                text += "; ETA \(Int(eta.rounded(.up))) s"
            }
            row("snapshot", text)
        } else if let slot, let job = slot.snapshotJob, let averaged = slot.snapshotProgress {
            let tables = averaged.tables.map { progress(table: $0.table, done: $0.rowsDone, estimated: $0.done ? $0.rowsDone : $0.estimatedRows) }
            var text = "job \(job.id) (unfinished, from the checkpoint): " + tables.joined(separator: "; ")
            if averaged.rowsPerSecond > 0 { text += "; \(SnapshotProgress.grouped(Int(averaged.rowsPerSecond))) rows/s on average" }
            if let eta = averaged.etaSeconds { text += "; ETA \(Int(eta.rounded(.up))) s" }
            row("snapshot", text)
        } else {
            row("snapshot", "none running")
        }
    }

    /// `public.users 420 / ~1,000 rows (42%)`, or without the estimate when it is unknown.
    static func progress(table: String, done: Int, estimated: Int) -> String {
        guard estimated > 0 else { return "\(table) \(SnapshotProgress.grouped(done)) rows" }
        let total = max(estimated, done)
        return "\(table) \(SnapshotProgress.grouped(done)) / ~\(SnapshotProgress.grouped(total)) rows (\(done * 100 / total)%)"
    }

    // MARK: - Formatting

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    /// The `walbridge_checkpoint_lsn` gauge back as an LSN (exact below 2^53).
    static func lsn(_ value: Double) -> LSN? {
        value > 0 && value < 0x1p64 ? LSN(UInt64(value)) : nil
    }

    static func bytes(_ count: Int64) -> String { SlotStatus.bytes(count) }

    /// `3.4 KiB`, `512 bytes`.
    static func compactBytes(_ value: Double) -> String {
        var scaled = value
        var unit = "bytes"
        for name in ["KiB", "MiB", "GiB", "TiB"] where scaled >= 1024 {
            scaled /= 1024
            unit = name
        }
        return unit == "bytes" ? "\(Int(value.rounded())) bytes" : String(format: "%.1f %@", scaled, unit)
    }

    static func rate(_ perSecond: Double) -> String { String(format: "%.1f/s", perSecond) }

    static func count(_ value: Double) -> String { SnapshotProgress.grouped(Int(value)) }
}

/// Counter arithmetic between two scrapes: increases (a counter below its
/// previous value was reset by a restart, and counts from 0), rates, totals.
private struct Counters {
    let current: PrometheusExposition
    let previous: PrometheusExposition?
    let seconds: Double
    /// Some counter went down: the process restarted between the scrapes.
    let restarted: Bool

    init(_ current: PrometheusExposition, _ previous: PrometheusExposition?, seconds: Double) {
        self.current = current
        self.previous = previous
        self.seconds = seconds
        restarted = previous.map { previous in
            current.samples.contains { sample in
                current.types[sample.name] == "counter"
                    && (previous.value(sample.name, sample.labels).map { sample.value < $0 } ?? false)
            }
        } ?? false
    }

    /// The increase of one series since the previous scrape; nil without one.
    func increase(_ series: PrometheusSample) -> Double? {
        guard let previous else { return nil }
        // A series missing before started since (created at its first increment).
        let before = previous.value(series.name, series.labels) ?? 0
        return series.value >= before ? series.value - before : series.value
    }

    /// The increase summed over every series of `name` (0 when none exists yet).
    func increase(_ name: String) -> Double? {
        guard previous != nil else { return nil }
        return current.samples(named: name).reduce(0) { $0 + (increase($1) ?? 0) }
    }

    func rate(_ series: PrometheusSample) -> Double? {
        guard seconds > 0 else { return nil }
        return increase(series).map { $0 / seconds }
    }

    func rate(_ name: String) -> Double? {
        guard seconds > 0 else { return nil }
        return increase(name).map { $0 / seconds }
    }

    /// `3 (1 new)`, or the total alone for the first frame, or `-` when the counter is absent.
    func totalAndNew(_ name: String) -> String {
        guard let total = current.total(name) else { return "-" }
        let text = SnapshotProgress.grouped(Int(total))
        return increase(name).map { "\(text) (\(SnapshotProgress.grouped(Int($0))) new)" } ?? text
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
