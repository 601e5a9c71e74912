import Configuration
import EventMapping
import Foundation
import PostgresReplication
import WalBridge

/// Helpers for tests with their own tables and mappings (issue 5): a
/// configuration from `mappings:` YAML, bridges and collectors on any topic,
/// expected values computed by Postgres itself.
extension BridgeTestSetup {
    /// A whole configuration whose `mappings:` list is `mappings` (YAML list
    /// items, indented by two spaces), with the test broker and this database.
    func yaml(mappings: String, kafkaExtra: String = "") -> String {
        """
        postgres:
          url: \(database.bridgeURL)
          slot: \(database.slot)
          publication: walbridge
        kafka:
          bootstrap_servers: \(cluster.bootstrapServers)
        \(kafkaExtra)
        checkpoint:
          path: \(checkpointPath)
        shutdown_timeout: 10s
        mappings:
        \(mappings)
        """
    }

    func configuration(mappings: String) throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(yaml: yaml(mappings: mappings), source: "test.yaml", environment: [:])
    }

    /// Creates the topics, starts a bridge on these mappings and waits until it streams.
    func startBridge(mappings: String, topics: [String]) throws -> RunningBridge {
        for topic in topics where topic != self.topic { try cluster.createTopic(topic, partitions: 3) }
        let bridge = RunningBridge(configuration: try configuration(mappings: mappings), options: BridgeTestSetup.testOptions())
        try database.waitForActiveSlot()
        return bridge
    }

    func collector(topic: String) throws -> EventCollector {
        try EventCollector(bootstrapServers: cluster.bootstrapServers, topic: topic)
    }

    /// Gives the bridge's role what it needs on a table the test created.
    func grant(_ table: String, schema: String = "public") throws {
        try database.sql("GRANT USAGE ON SCHEMA \(schema) TO walbridge; GRANT SELECT ON \(schema).\(table) TO walbridge")
    }
}

extension ReceivedEvent {
    /// The raw JSON text of the event (to prove what is not in it).
    var rawValue: String { String(decoding: record.value ?? [], as: UTF8.self) }
}

/// A JSON value in a canonical text form (sorted keys), so values parsed from
/// different JSON texts compare equal exactly when they are the same JSON.
func canonicalJSON(_ value: Any?) -> String {
    guard let value else { return "<absent>" }
    guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys, .fragmentsAllowed]) else {
        return "<not JSON: \(value)>"
    }
    return String(decoding: data, as: UTF8.self)
}

/// Parses a JSON text that may be a scalar.
func parseJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}
