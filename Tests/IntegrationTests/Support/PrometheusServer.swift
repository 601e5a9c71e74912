import Foundation
import HTTPTestClient

/// Debian's Prometheus server (`/usr/bin/prometheus`, or `WALBRIDGE_PROMETHEUS`)
/// on a loopback port, scraping one job every second and evaluating the given
/// rule files every second, with its own storage in a temporary directory.
/// Queried through its HTTP API, as Grafana and Alertmanager use it.
/// Killed, and its storage removed, on deinit.
final class PrometheusServer {
    /// Where the server binary is: `WALBRIDGE_PROMETHEUS`, else Debian's package's path.
    static var binary: String {
        ProcessInfo.processInfo.environment["WALBRIDGE_PROMETHEUS"] ?? "/usr/bin/prometheus"
    }

    let port: Int
    private let directory: String
    private var process: ChildProcess!

    /// Starts Prometheus scraping `target` (`host:port`) as job `job` and
    /// evaluating `ruleFiles`, and waits until it answers `/-/ready`.
    init(job: String, target: String, ruleFiles: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw TestFailure("no Prometheus server at \(Self.binary): install Debian's prometheus package (scripts/start-postgres.sh does), or set WALBRIDGE_PROMETHEUS")
        }
        directory = NSTemporaryDirectory() + "walbridge-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        port = try freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
            \(ruleFiles.map { "  - \($0)" }.joined(separator: "\n"))
            scrape_configs:
              - job_name: \(job)
                static_configs:
                  - targets: ["\(target)"]
            """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        process = try ChildProcess(
            executable: Self.binary,
            arguments: [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ],
            environment: ProcessInfo.processInfo.environment, stdout: directory + "/stdout", stderr: directory + "/stderr")
        try waitUntil("Prometheus to be ready on port \(port)", timeout: .seconds(30), interval: .milliseconds(200)) {
            guard process.isRunning else {
                throw TestFailure("Prometheus exited (status \(process.status ?? -1)): \(log.suffix(2000))")
            }
            return (try? get("/-/ready").status) == 200
        }
    }

    deinit {
        process = nil  // kills and reaps it
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What Prometheus wrote to standard error.
    var log: String { (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? "" }

    /// An HTTP/1.0 GET, so the server closes the connection after one response.
    private func get(_ path: String) throws -> (status: Int, body: String) {
        try httpGet(port: port, path: path, httpVersion: "1.0")
    }

    /// `GET /api/v1/<path>`'s `data`, or a failure naming Prometheus's error.
    private func api(_ path: String) throws -> Any {
        let response = try get("/api/v1/" + path)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
            throw TestFailure("Prometheus answered \(response.status) with no JSON: \(response.body.prefix(500))")
        }
        guard object["status"] as? String == "success", let data = object["data"] else {
            throw TestFailure("Prometheus: \(object["errorType"] ?? "?"): \(object["error"] ?? response.body.prefix(500))")
        }
        return data
    }

    /// One instant-vector (or scalar) sample of a query's result.
    struct Sample {
        var labels: [String: String]
        var value: Double
    }

    /// Evaluates `expression` now (`/api/v1/query`); throws when Prometheus rejects it.
    func query(_ expression: String) throws -> [Sample] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        guard let data = try api("query?query=" + encoded) as? [String: Any] else { throw TestFailure("query result without data") }
        func sample(_ labels: [String: String], _ pair: Any?) -> Sample? {
            guard let pair = pair as? [Any], pair.count == 2, let text = pair[1] as? String else { return nil }
            return Sample(labels: labels, value: Double(text) ?? .nan)
        }
        switch data["resultType"] as? String {
        case "vector":
            return (data["result"] as? [[String: Any]] ?? []).compactMap { sample($0["metric"] as? [String: String] ?? [:], $0["value"]) }
        case "scalar":
            return sample([:], data["result"]).map { [$0] } ?? []
        default:
            throw TestFailure("query \(expression) gave a \(data["resultType"] ?? "?") result, not an instant vector")
        }
    }

    /// The alerts that are pending or firing now (`/api/v1/alerts`), by name.
    func alertStates() throws -> [String: String] {
        guard let data = try api("alerts") as? [String: Any], let alerts = data["alerts"] as? [[String: Any]] else {
            throw TestFailure("alerts result without data")
        }
        var states: [String: String] = [:]
        for alert in alerts {
            if let labels = alert["labels"] as? [String: String], let name = labels["alertname"], let state = alert["state"] as? String {
                states[name] = state
            }
        }
        return states
    }

    /// The rule groups Prometheus loaded (`/api/v1/rules`): each rule's name and health.
    func ruleHealth() throws -> [String: String] {
        guard let data = try api("rules") as? [String: Any], let groups = data["groups"] as? [[String: Any]] else {
            throw TestFailure("rules result without groups")
        }
        var health: [String: String] = [:]
        for group in groups {
            for rule in group["rules"] as? [[String: Any]] ?? [] {
                if let name = rule["name"] as? String {
                    health[name] = (rule["health"] as? String ?? "?") + ((rule["lastError"] as? String).map { $0.isEmpty ? "" : ": \($0)" } ?? "")
                }
            }
        }
        return health
    }
}
