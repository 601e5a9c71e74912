import Configuration
import EventMapping
import Foundation
import Testing
import Yams

/// No Docker engine runs here, so the container files are checked as text
/// (issue 6, item 6): compose parses, every file it names exists, every port
/// it publishes is the one the example configuration and the image use, and
/// the Dockerfile builds the way the README says.
@Suite("Container files")
struct DeploymentFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let docker = root.appendingPathComponent("docker")

    static func text(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    static func compose() throws -> [String: Any] {
        try #require(try Yams.load(yaml: text("docker/compose.yaml")) as? [String: Any])
    }

    static func exampleConfiguration() throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(yaml: text("docker/walbridge.yaml"), source: "docker/walbridge.yaml",
                                      environment: ["PGPASSWORD": "example"])
    }

    /// `host:port` → port, for `kafka:9092`, `0.0.0.0:9187`, a URL's `@postgres:5432/`.
    static func port(after host: String, in text: String) -> Int? {
        guard let range = text.range(of: host + ":") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    @Test("compose parses and has Postgres 15 with logical WAL, Kafka in KRaft mode, WalBridge, a consumer, Prometheus and Grafana")
    func services() throws {
        let services = try #require(try Self.compose()["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["postgres", "kafka", "walbridge", "consumer", "prometheus", "grafana"])
        #expect((services["postgres"]?["image"] as? String)?.hasPrefix("postgres:15") == true)
        #expect((services["postgres"]?["command"] as? [String])?.contains("wal_level=logical") == true)
        let kafka = try #require(services["kafka"]?["environment"] as? [String: Any])
        #expect("\(kafka["KAFKA_PROCESS_ROLES"] ?? "")".contains("controller"), "KRaft: the broker is its own controller")
        let consumer = "\(services["consumer"]?["command"] ?? "")"
        #expect(consumer.contains("auth.users.events"))
        #expect(try Self.exampleConfiguration().tableMappings.first?.topic == "auth.users.events")
    }

    @Test("compose's Prometheus scrapes WalBridge's metrics port as job walbridge with the alert rules; Grafana provisions the dashboard from its data source")
    func monitoring() throws {
        let services = try #require(try Self.compose()["services"] as? [String: [String: Any]])
        let prometheusVolumes = services["prometheus"]?["volumes"] as? [String] ?? []
        #expect(prometheusVolumes.contains { $0.hasPrefix("./prometheus/walbridge-alerts.yaml:") })
        #expect(prometheusVolumes.contains { $0.hasPrefix("./prometheus/prometheus.yml:") })
        let prometheus = try #require(try Yams.load(yaml: Self.text("docker/prometheus/prometheus.yml")) as? [String: Any])
        #expect(prometheus["rule_files"] as? [String] == ["walbridge-alerts.yaml"])
        let job = try #require((prometheus["scrape_configs"] as? [[String: Any]])?.first)
        #expect(job["job_name"] as? String == "walbridge", "the alert rules select up{job=\"walbridge\"}")
        let targets = (job["static_configs"] as? [[String: Any]])?.first?["targets"] as? [String]
        let metricsPort = try #require(try Self.exampleConfiguration().metrics.listenAddress?.port)
        #expect(targets == ["walbridge:\(metricsPort)"])

        let grafanaVolumes = services["grafana"]?["volumes"] as? [String] ?? []
        #expect(grafanaVolumes.contains { $0.hasPrefix("./grafana/provisioning:") })
        let dashboardMount = try #require(grafanaVolumes.first { $0.hasPrefix("./grafana/walbridge-dashboard.json:") })
        let provider = try #require(try Yams.load(yaml: Self.text("docker/grafana/provisioning/dashboards/walbridge.yaml")) as? [String: Any])
        let providerPath = ((provider["providers"] as? [[String: Any]])?.first?["options"] as? [String: Any])?["path"] as? String
        #expect(providerPath.map { dashboardMount.split(separator: ":")[1].hasPrefix($0 + "/") } == true,
                "the dashboard provider loads the directory the dashboard is mounted in")
        let datasources = try #require(try Yams.load(yaml: Self.text("docker/grafana/provisioning/datasources/prometheus.yaml")) as? [String: Any])
        let source = try #require((datasources["datasources"] as? [[String: Any]])?.first)
        #expect(source["uid"] as? String == "prometheus" && source["url"] as? String == "http://prometheus:9090")
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(Self.text("docker/grafana/walbridge-dashboard.json").utf8)) as? [String: Any])
        for panel in dashboard["panels"] as? [[String: Any]] ?? [] where panel["type"] as? String != "row" {
            let uid = (panel["datasource"] as? [String: Any])?["uid"] as? String
            #expect(uid == "prometheus", "panel \(panel["title"] ?? "?") uses the provisioned data source")
        }
    }

    @Test("every file and directory compose names exists in the repository")
    func filesExist() throws {
        let services = try #require(try Self.compose()["services"] as? [String: [String: Any]])
        var checked = 0
        for (name, service) in services {
            for volume in service["volumes"] as? [String] ?? [] {
                let source = String(volume.split(separator: ":")[0])
                guard source.hasPrefix(".") || source.hasPrefix("/") else { continue }   // a named volume
                let url = Self.docker.appendingPathComponent(source).standardizedFileURL
                #expect(FileManager.default.fileExists(atPath: url.path), "\(name): \(source) does not exist (\(url.path))")
                checked += 1
            }
            if let build = service["build"] as? [String: Any] {
                let context = Self.docker.appendingPathComponent(build["context"] as? String ?? ".").standardizedFileURL
                let dockerfile = context.appendingPathComponent(build["dockerfile"] as? String ?? "Dockerfile")
                #expect(FileManager.default.fileExists(atPath: dockerfile.path), "\(name): \(dockerfile.path) does not exist")
                #expect(FileManager.default.fileExists(atPath: context.appendingPathComponent("Package.swift").path))
                checked += 1
            }
        }
        #expect(checked >= 5)
    }

    @Test("published ports are the ones the example configuration and the image use")
    func ports() throws {
        let services = try #require(try Self.compose()["services"] as? [String: [String: Any]])
        func containerPorts(_ service: String) -> [Int] {
            (services[service]?["ports"] as? [String] ?? []).compactMap { Int($0.split(separator: ":").last!) }
        }
        let configuration = try Self.exampleConfiguration()
        let metricsPort = try #require(configuration.metrics.listenAddress?.port)
        #expect(containerPorts("walbridge") == [metricsPort])
        #expect(containerPorts("kafka") == [Self.port(after: "kafka", in: configuration.kafka.bootstrapServers)].compactMap { $0 })
        #expect(containerPorts("postgres") == [Self.port(after: "@postgres", in: configuration.postgres.url)].compactMap { $0 })
        let kafka = "\(services["kafka"]?["environment"] ?? "")"
        #expect(kafka.contains("PLAINTEXT://kafka:\(containerPorts("kafka").first ?? -1)"), "Kafka advertises the address WalBridge uses")

        let dockerfile = try Self.text("docker/Dockerfile")
        #expect(dockerfile.contains("EXPOSE \(metricsPort)"))
        #expect(dockerfile.contains("http://127.0.0.1:\(metricsPort)/readyz"), "the image's health check asks /readyz")
    }

    @Test("the Dockerfile builds as the README says, runs as non-root on slim Debian with libpq5 and librdkafka1")
    func dockerfile() throws {
        let dockerfile = try Self.text("docker/Dockerfile")
        let readme = try Self.text("README.md")
        #expect(dockerfile.contains("FROM swift:6.3"))
        #expect(readme.contains("swift build -c release") && dockerfile.contains("swift build -c release"))
        for package in ["libpq-dev", "librdkafka-dev", "pkg-config"] {
            #expect(readme.contains(package) && dockerfile.contains(package), "\(package) in both")
        }
        #expect(dockerfile.contains("FROM debian:bookworm-slim"))
        #expect(dockerfile.contains("libpq5") && dockerfile.contains("librdkafka1"))
        let user = try #require(dockerfile.split(separator: "\n").last { $0.hasPrefix("USER ") })
        #expect(user != "USER root" && user != "USER 0")
        #expect(dockerfile.contains("HEALTHCHECK"))
    }
}
