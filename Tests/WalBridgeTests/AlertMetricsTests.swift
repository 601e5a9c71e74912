import Configuration
import Foundation
import HTTPTestClient
import Logging
import Testing
@testable import WalBridge

/// The metrics the alert rules and the dashboard rely on being there from the
/// start (docker/prometheus/walbridge-alerts.yaml): the per-mapping event
/// counters at 0, and `walbridge_ready` as `/readyz` answers.
@Suite("Metrics the alert rules read")
struct AlertMetricsTests {
    static func configuration() throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(yaml: """
            postgres: {url: "postgres://walbridge:s3cret@127.0.0.1:1/auth", slot: alert_slot}
            kafka: {bootstrap_servers: "127.0.0.1:1"}
            mappings:
              - table: public.users
                topic: auth.users.events
                events:
                  insert: UserRegistered
                  update:
                    - {when: {set: [deleted_at]}, event: UserDeactivated}
                    - {event: UserUpdated}
                  delete: UserDeleted
                truncate: UsersTruncated
                snapshot: {event: UserSnapshotted}
                fields: {id: id, deleted_at: deletedAt}
              - table: public.alert_rule_orders
                topic: orders
                events: {insert: AlertRuleOrderPlaced}
                fields: {id: id}
              - kind: message
                prefix: alert-rule-audit
                topic: audit
                event: AlertRuleAuditNoted
              - kind: outbox
                table: public.outbox
                topic: "outbox.{aggregate_type}"
                outbox: {aggregate_type: aggregatetype, aggregate_id: aggregateid, event_type: type, payload: payload}
            """, source: "alerts.yaml", environment: [:])
    }

    @Test("every (table, event) a table or message mapping publishes, once each; an outbox's types come from its rows")
    func eventLabels() throws {
        let labels = BridgeMetrics.eventLabels(of: try Self.configuration().mappings).map { "\($0.table) \($0.eventType)" }
        #expect(labels == [
            "public.users UserRegistered", "public.users UserDeleted", "public.users UserSnapshotted",
            "public.users UserDeactivated", "public.users UserUpdated", "public.users UsersTruncated",
            "public.alert_rule_orders AlertRuleOrderPlaced", "alert-rule-audit AlertRuleAuditNoted",
        ])
    }

    @Test("prepared counters are exported at 0 before any event, failed ones too; walbridge_ready follows /readyz")
    func exportedFromTheStart() throws {
        let configuration = try Self.configuration()
        let handle = try Observability.start(
            configuration: configuration, logger: Logger(label: "test"),
            options: ObservabilityOptions(pollInterval: .milliseconds(100), listen: "127.0.0.1:0"))
        defer { handle.stop() }
        let port = try #require(handle.listenPort)
        handle.metrics.prepareEventCounters(for: configuration.mappings)
        let body = try httpGet(port: port, path: "/metrics").body
        for series in [
            #"walbridge_events_published_total{table="public.alert_rule_orders",event="AlertRuleOrderPlaced"} 0"#,
            #"walbridge_events_failed_total{table="public.alert_rule_orders",event="AlertRuleOrderPlaced"} 0"#,
            #"walbridge_events_failed_total{table="alert-rule-audit",event="AlertRuleAuditNoted"} 0"#,
        ] {
            #expect(body.contains(series), "\(series) in /metrics")
        }
        // (The registry is the process's: names no other test publishes under.)
        // Postgres on port 1 cannot be reached: /readyz answers 503, and the gauge says 0.
        #expect(try httpGet(port: port, path: "/readyz").status == 503)
        let ready = body.split(separator: "\n").first { $0.hasPrefix(BridgeMetrics.Name.ready + " ") }
        #expect(ready.flatMap { Double($0.split(separator: " ")[1]) } == 0, "\(ready ?? "no walbridge_ready line")")
    }
}
