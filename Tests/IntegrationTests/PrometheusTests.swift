import Foundation
import HTTPTestClient
import Testing
import WalBridge

/// Issue 16: the alert rules (`docker/prometheus/walbridge-alerts.yaml`) and
/// the dashboard's queries (`docker/grafana/walbridge-dashboard.json`) on a
/// real Prometheus (Debian's package) scraping a running `walbridge run`:
/// the series arrive, every expression evaluates and returns data, nothing
/// fires while all is well, and the retained-WAL alert fires while the slot is
/// held back by a broker outage and resolves once it is not.
@Suite("Prometheus: alert rules and dashboard queries against a running WalBridge", .serialized)
struct PrometheusTests {
    /// The alerts the rules file must have (docs/operations.md, "Alerts").
    static let requiredAlerts: Set<String> = [
        "WalBridgeLagging", "WalBridgeSlotRetainsTooMuchWAL", "WalBridgeSlotNearInvalidation", "WalBridgeNotReady",
        "WalBridgeDeadLetters", "WalBridgeSlotGap", "WalBridgeSlotNotFailoverReady",
    ]
    /// What the dashboard must show (the issue's list), as the metrics it reads.
    static let requiredDashboardMetrics: Set<String> = [
        BridgeMetrics.Name.eventsPublished, BridgeMetrics.Name.lagSeconds, BridgeMetrics.Name.lagBytes,
        BridgeMetrics.Name.slotRetainedWAL, BridgeMetrics.Name.delivery, BridgeMetrics.Name.eventsDeadLettered,
        BridgeMetrics.Name.reconnects, BridgeMetrics.Name.snapshotRows,
    ]
    static let histograms: Set<String> = [BridgeMetrics.Name.delivery]
    /// The retained-WAL rule's threshold in the test's copy of the rules (32 MiB instead of 20 GiB, `for: 0s`).
    static let testThreshold = 32 * 1024 * 1024

    @Test("every rule and dashboard query reads exported metrics, evaluates and returns data; retained WAL fires while the broker is down")
    func rulesAndDashboardOnPrometheus() throws {
        let rules = try AlertRulesFile()
        let dashboard = try DashboardFile()
        #expect(Set(rules.rules.map(\.alert)).isSuperset(of: Self.requiredAlerts),
                "missing alerts: \(Self.requiredAlerts.subtracting(rules.rules.map(\.alert)).sorted())")
        // Every name read is one WalBridge exports (a typo would silently never fire).
        let exported = Set(BridgeMetrics.Name.all)
        var read: Set<String> = []
        for (source, expr) in rules.rules.map({ ("alert \($0.alert)", $0.expr) }) + dashboard.queries.map({ ("panel \($0.panel)", $0.expr) }) {
            let names = walbridgeMetricNames(in: expr, histograms: Self.histograms)
            #expect(names.isSubset(of: exported), "\(source) reads \(names.subtracting(exported).sorted()), which WalBridge does not export")
            if source.hasPrefix("panel") { read.formUnion(names) }
        }
        #expect(read.isSuperset(of: Self.requiredDashboardMetrics),
                "the dashboard shows nothing of \(Self.requiredDashboardMetrics.subtracting(read).sorted())")

        // A running walbridge, with a backfill at its first start so the snapshot series exist.
        let setup = try BridgeTestSetup()
        try setup.insertUsers(prefix: "existing", count: 30)
        let metricsPort = try freeLoopbackPort()
        let config = try setup.writeConfiguration(
            "metrics: {listen: 127.0.0.1:\(metricsPort)}\n" + setup.yaml(mappingExtra: "    snapshot: {mode: initial, chunk_size: 10}"))
        let bridge = try WalBridgeProcess(["run", "--config", config])
        try bridge.waitForLog("serving metrics")
        try setup.database.waitForActiveSlot()

        // The test's copy of the rules: the retained-WAL rule as written, with a threshold within reach.
        let retainedRule = try rules.rule("WalBridgeSlotRetainsTooMuchWAL")
        let comparison = "\(BridgeMetrics.Name.slotRetainedWAL) >"
        try #require(retainedRule.expr.hasPrefix(comparison), "the retained-WAL rule compares \(BridgeMetrics.Name.slotRetainedWAL) with a threshold")
        let rulesCopy = (config as NSString).deletingLastPathComponent + "/walbridge-alerts.yaml"
        try rules.writeCopy(to: rulesCopy, replacing: retainedRule.alert,
                            expr: "\(comparison) \(Self.testThreshold)", forDuration: "0s")
        let prometheus = try PrometheusServer(job: "walbridge", target: "127.0.0.1:\(metricsPort)", ruleFiles: [rulesCopy])
        let threshold = String(retainedRule.expr.dropFirst(comparison.count))
        let asWritten = try prometheus.query(threshold)
        #expect(asWritten.count == 1 && asWritten[0].value >= 1024 * 1024 * 1024,
                "the threshold as written (\(threshold)) is a constant of at least 1 GiB")

        // Changes go on while Prometheus scrapes: one user every 20 ms for about 15 s.
        let writes = BackgroundSQL(database: setup.database.name, """
            DO $$ BEGIN FOR g IN 1..700 LOOP
              INSERT INTO users (username, email, password_hash) VALUES ('live' || g, 'live' || g || '@example.com', 'h');
              COMMIT;
              PERFORM pg_sleep(0.02);
            END LOOP; END $$
            """)
        try waitUntil("the backfill and live events in Prometheus", timeout: .seconds(60), interval: .seconds(1)) {
            let snapshotRows = try prometheus.query("\(BridgeMetrics.Name.snapshotRows){job=\"walbridge\"}")
            let published = try prometheus.query("rate(\(BridgeMetrics.Name.eventsPublished){event=\"UserRegistered\"}[30s])")
            return try prometheus.query("up{job=\"walbridge\"} == 1").count == 1
                && snapshotRows.contains { $0.value == 30 } && published.contains { $0.value > 0 }
        }

        // Every expression evaluates; every dashboard query returns data, as does
        // every metric the rules read. A few scrapes may be needed for the rates.
        var missing: [String] = []
        let deadline = ContinuousClock.now + .seconds(45)
        repeat {
            missing = []
            for query in dashboard.queries where try prometheus.query(query.promQL).isEmpty {
                missing.append("panel '\(query.panel)': \(query.promQL)")
            }
            for rule in rules.rules {
                _ = try prometheus.query(rule.expr)  // throws when Prometheus rejects it
                for name in walbridgeMetricNames(in: rule.expr, histograms: Self.histograms)
                where try prometheus.query("\(name)\(Self.histograms.contains(name) ? "_count" : ""){job=\"walbridge\"}").isEmpty {
                    missing.append("alert \(rule.alert): \(name)")
                }
            }
            if missing.isEmpty { break }
            Thread.sleep(forTimeInterval: 1)
        } while ContinuousClock.now < deadline
        #expect(missing.isEmpty, "no data: \(missing)")
        let health = try prometheus.ruleHealth()
        for alert in Self.requiredAlerts {
            #expect(health[alert] == "ok", "Prometheus evaluates \(alert): \(health[alert] ?? "not loaded")")
        }
        #expect(try prometheus.alertStates().isEmpty, "nothing is pending or firing while all is well")
        try writes.wait()

        // Held back: the broker is down, so a change cannot be delivered and the
        // slot keeps every WAL segment written after it.
        try setup.cluster.setAllBrokersDown()
        try setup.insertUser("held")
        try setup.database.sql("CREATE TABLE ballast AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 60000) g")
        try waitUntil("WalBridgeSlotRetainsTooMuchWAL to fire", timeout: .seconds(60), interval: .seconds(1)) {
            try prometheus.alertStates()[retainedRule.alert] == "firing"
        }
        let retained = try prometheus.query("\(BridgeMetrics.Name.slotRetainedWAL){job=\"walbridge\"}")
        #expect(retained.first.map { $0.value > Double(Self.testThreshold) } == true)

        // Healed: the broker is back, the slot catches up, and once Postgres
        // moves its restart position (at a checkpoint) the alert resolves.
        try setup.cluster.setAllBrokersUp()
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN(), timeout: .seconds(60))
        try waitUntil("WalBridgeSlotRetainsTooMuchWAL to resolve", timeout: .seconds(90), interval: .seconds(3)) {
            try setup.database.sql("CHECKPOINT")
            return try prometheus.alertStates()[retainedRule.alert] == nil
        }

        bridge.signal(SIGTERM)
        #expect(try bridge.waitForExit() == 0, "stderr: \(bridge.stderr.suffix(2000))")
    }
}
