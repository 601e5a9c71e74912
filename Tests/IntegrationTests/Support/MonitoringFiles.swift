import Foundation
import Yams

/// `docker/prometheus/walbridge-alerts.yaml`, read as Prometheus reads it:
/// its groups' alerting rules, each with its expression.
struct AlertRulesFile {
    static let path = TestDatabase.repositoryRoot.appendingPathComponent("docker/prometheus/walbridge-alerts.yaml").path

    struct Rule {
        var alert: String
        var expr: String
        var forDuration: String?
    }

    /// The document as parsed, for writing modified copies.
    private let document: [String: Any]
    let rules: [Rule]

    init(path: String = AlertRulesFile.path) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let document = try Yams.load(yaml: text) as? [String: Any],
              let groups = document["groups"] as? [[String: Any]] else {
            throw TestFailure("\(path) has no `groups:` list")
        }
        self.document = document
        rules = try groups.flatMap { group in
            try (group["rules"] as? [[String: Any]] ?? []).compactMap { rule -> Rule? in
                guard let alert = rule["alert"] as? String else { return nil }  // a recording rule
                guard let expr = rule["expr"] as? String else { throw TestFailure("alert \(alert) has no expr") }
                return Rule(alert: alert, expr: expr, forDuration: rule["for"] as? String)
            }
        }
    }

    func rule(_ alert: String) throws -> Rule {
        guard let rule = rules.first(where: { $0.alert == alert }) else {
            throw TestFailure("\(AlertRulesFile.path) has no alert \(alert)")
        }
        return rule
    }

    /// Writes the file to `path` with `alert`'s expression and `for` replaced:
    /// a test cannot wait 10 minutes for 20 GiB of WAL, but can check that the
    /// rule as written fires once its threshold is within reach.
    func writeCopy(to path: String, replacing alert: String, expr: String, forDuration: String) throws {
        var document = document
        guard var groups = document["groups"] as? [[String: Any]] else { throw TestFailure("no groups") }
        for index in groups.indices {
            guard var rules = groups[index]["rules"] as? [[String: Any]] else { continue }
            for ruleIndex in rules.indices where rules[ruleIndex]["alert"] as? String == alert {
                rules[ruleIndex]["expr"] = expr
                rules[ruleIndex]["for"] = forDuration
            }
            groups[index]["rules"] = rules
        }
        document["groups"] = groups
        try Yams.dump(object: document).write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// `docker/grafana/walbridge-dashboard.json`: every query its panels and
/// template variables run, with Grafana's variables replaced as Grafana would
/// before sending them to Prometheus.
struct DashboardFile {
    static let path = TestDatabase.repositoryRoot.appendingPathComponent("docker/grafana/walbridge-dashboard.json").path

    struct Query {
        /// The panel's title (or `variable NAME`), for failure messages.
        var panel: String
        /// As written in the dashboard.
        var expr: String
        /// As Prometheus receives it: `$__rate_interval`, `$__range` and `$instance` replaced.
        var promQL: String
    }

    let queries: [Query]

    init(path: String = DashboardFile.path) throws {
        guard let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] else {
            throw TestFailure("\(path) is not a JSON object")
        }
        var queries: [Query] = []
        func visit(_ panels: [[String: Any]]) {
            for panel in panels {
                let title = panel["title"] as? String ?? "untitled panel"
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    if let expr = target["expr"] as? String {
                        queries.append(Query(panel: title, expr: expr, promQL: Self.substitute(expr)))
                    }
                }
                visit(panel["panels"] as? [[String: Any]] ?? [])  // panels collapsed into a row
            }
        }
        visit(dashboard["panels"] as? [[String: Any]] ?? [])
        // `label_values(metric, label)` asks for the label values of `metric`'s series.
        for variable in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String
            guard variable["type"] as? String == "query", let query else { continue }
            let name = "variable \(variable["name"] as? String ?? "?")"
            if query.hasPrefix("label_values("), let comma = query.lastIndex(of: ",") {
                let metric = String(query[query.index(query.startIndex, offsetBy: "label_values(".count)..<comma])
                queries.append(Query(panel: name, expr: query, promQL: Self.substitute(metric.trimmingCharacters(in: .whitespaces))))
            } else {
                queries.append(Query(panel: name, expr: query, promQL: Self.substitute(query)))
            }
        }
        self.queries = queries
    }

    /// Grafana's built-in variables as a 1 s scrape interval gives them, and
    /// the `instance` variable at its "All" value.
    static func substitute(_ expr: String) -> String {
        expr.replacingOccurrences(of: "$__rate_interval", with: "30s")
            .replacingOccurrences(of: "${__rate_interval}", with: "30s")
            .replacingOccurrences(of: "$__range", with: "5m")
            .replacingOccurrences(of: "${instance}", with: ".*")
            .replacingOccurrences(of: "$instance", with: ".*")
    }
}

/// The metric names an expression reads: identifiers starting `walbridge_`,
/// with a histogram's `_bucket`/`_sum`/`_count` series named by the histogram.
func walbridgeMetricNames(in expr: String, histograms: Set<String>) -> Set<String> {
    var names: Set<String> = []
    var current = ""
    for character in expr + " " {
        if character.isLetter || character.isNumber || character == "_" || character == ":" {
            current.append(character)
            continue
        }
        if current.hasPrefix("walbridge_") {
            var name = current
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && histograms.contains(String(name.dropLast(suffix.count))) {
                name = String(name.dropLast(suffix.count))
            }
            names.insert(name)
        }
        current = ""
    }
    return names
}
