import Configuration
import EventMapping
import Foundation
import HTTPTestClient
import Logging
import PostgresReplication
import Testing
@testable import WalBridge

@Suite("Metrics listener, readiness and lag estimate")
struct ObservabilityUnitTests {
    static func configuration(listen: String? = nil) throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(yaml: """
            postgres: {url: "postgres://walbridge:s3cret@127.0.0.1:1/auth", slot: unit_slot}
            kafka: {bootstrap_servers: "127.0.0.1:1"}
            mappings: [{table: public.users, topic: t, events: {insert: A}, fields: {id: id}}]
            """, source: "unit.yaml", environment: [:])
    }

    @Test("serves /metrics, /healthz, /readyz; 404 and 405 otherwise")
    func routes() throws {
        let handle = try Observability.start(
            configuration: Self.configuration(), logger: Logger(label: "test"),
            options: ObservabilityOptions(pollInterval: .milliseconds(100), listen: "127.0.0.1:0"))
        defer { handle.stop() }
        let port = try #require(handle.listenPort)
        #expect(port > 0)

        handle.metrics.eventPublished(table: "public.users", eventType: "UserRegistered")
        handle.metrics.eventPublished(table: "public.users", eventType: "UserRegistered")
        handle.metrics.delivery(seconds: 0.003)
        handle.metrics.inflight(events: 7, bytes: 700)
        let metrics = try httpGet(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains(#"walbridge_events_published_total{table="public.users",event="UserRegistered"}"#))
        #expect(metrics.body.contains("walbridge_delivery_seconds_bucket"))
        #expect(metrics.body.contains("walbridge_inflight_events 7"))

        #expect(try httpGet(port: port, path: "/healthz") == (200, "ok\n"))
        // Postgres on port 1 cannot be reached: not ready, and the reason says why.
        let ready = try httpGet(port: port, path: "/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("not ready"))
        #expect(!ready.body.contains("s3cret"), "no password in /readyz: \(ready.body)")
        #expect(try httpGet(port: port, path: "/nope").status == 404)
        #expect(try httpGet(port: port, path: "/metrics", method: "POST").status == 405)
        #expect(try httpGet(port: port, path: "/healthz", method: "HEAD") == (200, ""))
    }

    @Test("a taken port is a clear error")
    func portInUse() throws {
        let first = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { _ in HTTPResponse(status: 200, text: "") }
        let group = ServiceGroup(label: "test", logger: Logger(label: "test"))
        group.start([first])
        defer { group.stop() }
        #expect {
            _ = try MetricsHTTPServer(host: "127.0.0.1", port: first.port) { _ in HTTPResponse(status: 200, text: "") }
        } throws: { error in
            "\(error)".contains("cannot listen on metrics.listen 127.0.0.1:\(first.port)") && "\(error)".contains("in use")
        }
    }

    @Test("readiness follows what the bridge reports when there is no slot monitor")
    func readinessFromReports() {
        let metrics = BridgeMetrics()
        let health = BridgeHealth(metrics: metrics, monitor: nil, slot: "s", maxLag: .seconds(60), pollInterval: .seconds(1))
        #expect(!health.readiness().isReady)
        metrics.connected(true, walsenderPID: 42)
        #expect(health.readiness().isReady)
        metrics.producerHealthy(false)
        #expect(health.readiness().reasons == ["the Kafka producer has failed"])
        metrics.producerHealthy(true)
        metrics.reconnecting()
        #expect(health.readiness().reasons == ["not connected to Postgres (reconnecting)"])
    }

    @Test("lag estimate: 0 when caught up, rises while stuck, falls when the slot catches up")
    func lagEstimate() {
        var estimator = LagEstimator()
        let start = ContinuousClock.now
        #expect(estimator.record(wal: LSN(100), confirmed: LSN(100), now: start) == 0)
        // New WAL at +1 s, not yet confirmed: it was written after the last caught-up sample.
        #expect(estimator.record(wal: LSN(200), confirmed: LSN(100), now: start + .seconds(1)) == 0)
        #expect(estimator.record(wal: LSN(300), confirmed: LSN(100), now: start + .seconds(5)) == 4)
        #expect(estimator.record(wal: LSN(400), confirmed: LSN(100), now: start + .seconds(11)) == 10)
        // The slot confirms up to 300: the oldest unconfirmed WAL appeared by +11 s.
        #expect(estimator.record(wal: LSN(400), confirmed: LSN(300), now: start + .seconds(12)) == 1)
        #expect(estimator.record(wal: LSN(400), confirmed: LSN(400), now: start + .seconds(13)) == 0)
    }

    @Test("HTTP request lines parse; anything else does not")
    func requestParsing() {
        #expect(HTTPRequest(head: "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n") == HTTPRequest(method: "GET", path: "/metrics"))
        #expect(HTTPRequest(head: "garbage\r\n\r\n") == nil)
        #expect(HTTPRequest(head: "GET metrics HTTP/1.1\r\n\r\n") == nil)
    }

    @Test("request bytes as read from the socket: a head ends at the blank line or the size limit; every head gets a status line")
    func requestBytes() {
        #expect(!MetricsHTTPServer.headIsComplete(Array("GET /metrics HTTP/1.1\r\n".utf8)))
        #expect(MetricsHTTPServer.headIsComplete(Array("GET /metrics HTTP/1.1\r\n\r\n".utf8)))
        #expect(MetricsHTTPServer.headIsComplete([UInt8](repeating: 0x41, count: MetricsHTTPServer.maximumHeadSize)))
        let handler: (HTTPRequest) -> HTTPResponse = { HTTPResponse(status: 200, text: $0.path) }
        func status(_ head: [UInt8]) -> String {
            String(decoding: MetricsHTTPServer.respond(toHead: head, handler: handler).prefix(12), as: UTF8.self)
        }
        #expect(status(Array("HEAD /healthz HTTP/1.0\r\n\r\n".utf8)) == "HTTP/1.1 200")
        #expect(status(Array("DELETE /metrics HTTP/1.1\r\n\r\n".utf8)) == "HTTP/1.1 405")
        // Not UTF-8, NUL bytes, no line end, nothing at all: 400, never a trap.
        #expect(status([0xFF, 0xFE, 0x00, 0x20, 0x2F, 0x20, 0x48]) == "HTTP/1.1 400")
        #expect(status([]) == "HTTP/1.1 400")
        #expect(status([UInt8](repeating: 0x20, count: MetricsHTTPServer.maximumHeadSize)) == "HTTP/1.1 400")
    }
}
