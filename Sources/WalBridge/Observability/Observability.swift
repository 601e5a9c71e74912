import Configuration
import EventMapping
import Foundation
import Logging
import Metrics
import Prometheus

/// Settings of the metrics listener and slot monitor that are not (yet) in
/// the configuration file.
public struct ObservabilityOptions: Sendable {
    /// `/readyz` fails while `walbridge_lag_seconds` is above this (default 5 minutes).
    public var readyMaxLag: Duration = .seconds(300)
    /// How often the slot monitor queries Postgres (default 5 s).
    public var pollInterval: Duration = .seconds(5)
    /// Overrides `metrics.listen` (tests use `127.0.0.1:0` for a free port).
    public var listen: String?

    public init(readyMaxLag: Duration = .seconds(300), pollInterval: Duration = .seconds(5), listen: String? = nil) {
        self.readyMaxLag = readyMaxLag
        self.pollInterval = pollInterval
        self.listen = listen
    }
}

/// What `Observability.start` started; `stop()` ends it.
public final class ObservabilityHandle: Sendable {
    /// The metrics to report into (Prometheus-backed when metrics are on).
    public let metrics: BridgeMetrics
    /// Readiness, as `/readyz` answers it.
    public let health: BridgeHealth
    /// The address the listener is bound to (`127.0.0.1:9187`), nil when metrics are off.
    public let listenAddress: String?
    /// The port the listener is bound to (the one chosen for `:0`), nil when metrics are off.
    public let listenPort: Int?
    /// Runs the listener and the slot monitor; nil when metrics are off.
    private let group: ServiceGroup?

    init(metrics: BridgeMetrics, health: BridgeHealth, server: MetricsHTTPServer?, group: ServiceGroup?) {
        self.metrics = metrics
        self.health = health
        self.group = group
        self.listenAddress = server.map { PosixSocket.addressText(host: $0.host, port: $0.port) }
        self.listenPort = server?.port
    }

    /// The first failure of the listener or the slot monitor (nil while none failed).
    public var failure: BridgeError? { group?.failure }

    /// Stops the listener and the slot monitor together, waiting at most
    /// `ServiceGroup.defaultStopDeadline` (idempotent).
    public func stop() {
        group?.stop()
    }
}

/// Metrics, health and readiness of a running bridge (issue 6, items 1–2):
/// the Prometheus registry, the HTTP listener on `metrics.listen` for
/// `/metrics`, `/healthz`, `/readyz` and `/status`, and the slot monitor that polls lag
/// and retained WAL over an ordinary connection.
///
/// Call `start` once, before the `Bridge` makes its `BridgeMetrics`, and give
/// the bridge `handle.metrics`.
public enum Observability {
    /// The process's Prometheus registry: every `BridgeMetrics` reports here once bootstrapped.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    /// Makes swift-metrics report into `registry` (once per process; later calls do nothing).
    public static func bootstrapMetrics() {
        _ = bootstrapped
    }

    /// Starts the listener and the slot monitor when `metrics.listen` (or
    /// `options.listen`) is set; otherwise returns a handle with metrics that
    /// cost nothing and no listener.
    ///
    /// `onFailure` is called once, on the failing component's thread, when
    /// the listener or the slot monitor fails (both are stopped by then).
    ///
    /// - Throws: `BridgeError` when the address cannot be bound.
    public static func start(
        configuration: BridgeConfiguration, logger: Logger, options: ObservabilityOptions = ObservabilityOptions(),
        onFailure: @escaping @Sendable (BridgeError) -> Void = { _ in }
    ) throws(BridgeError) -> ObservabilityHandle {
        guard let listen = options.listen ?? configuration.metrics.listen else {
            let metrics = BridgeMetrics()
            return ObservabilityHandle(
                metrics: metrics,
                health: BridgeHealth(metrics: metrics, monitor: nil, slot: configuration.postgres.slot,
                                     maxLag: options.readyMaxLag, pollInterval: options.pollInterval),
                server: nil, group: nil)
        }
        guard let address = parseListen(listen) else {
            throw BridgeError(.configuration, "metrics.listen '\(listen)' is not host:port; write e.g. 127.0.0.1:9187 or [::1]:9187")
        }
        bootstrapMetrics()
        let metrics = BridgeMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let monitor = SlotMonitor(url: configuration.postgres.url, slot: configuration.postgres.slot,
                                  interval: options.pollInterval, metrics: metrics, logger: logger)
        let health = BridgeHealth(metrics: metrics, monitor: monitor, slot: configuration.postgres.slot,
                                  maxLag: options.readyMaxLag, pollInterval: options.pollInterval)
        let server = try MetricsHTTPServer(host: address.host, port: address.port) { request in
            route(request, health: health)
        }
        let group = ServiceGroup(label: "observability", logger: logger, onFailure: onFailure)
        group.start([server, monitor])
        let handle = ObservabilityHandle(metrics: metrics, health: health, server: server, group: group)
        logger.info("serving metrics", metadata: [
            "listen": "\(handle.listenAddress ?? listen)", "paths": "/metrics /healthz /readyz /status"])
        return handle
    }

    static func route(_ request: HTTPRequest, health: BridgeHealth) -> HTTPResponse {
        switch request.path {
        case "/metrics":
            // `walbridge_ready` is /readyz's answer at the moment of the scrape, so
            // an alert on it sees exactly what the orchestrator's health check sees.
            health.recordReadiness()
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        case "/healthz":
            return HTTPResponse(status: 200, text: "ok\n")
        case "/readyz":
            let readiness = health.readiness()
            return HTTPResponse(status: readiness.isReady ? 200 : 503, text: readiness.text)
        case "/status":
            let status = ProcessStatus(health.readiness(), lastProblem: LastProblemRecorder.shared.current)
            return HTTPResponse(status: 200, contentType: "application/json; charset=utf-8", body: Array(status.json.utf8))
        default:
            return HTTPResponse(status: 404, text: "not found; try /metrics, /healthz, /readyz or /status\n")
        }
    }

    /// `host:port` with port 0 allowed (for tests); brackets of an IPv6 host removed.
    static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}
