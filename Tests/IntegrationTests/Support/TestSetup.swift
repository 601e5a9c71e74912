import Configuration
import EventMapping
import Foundation
import KafkaPublisher
import KafkaTestBroker
import WalBridge

/// The pieces most integration tests need: a database, a test broker, a
/// configuration for the `users` mapping, and a consumer on its topic.
final class BridgeTestSetup {
    let database: TestDatabase
    let cluster: TestKafkaCluster
    let topic = "auth.users.events"
    let checkpointPath: String

    init(publish: Bool = true, partitions: Int32 = 3) throws {
        database = try TestDatabase(publish: publish)
        cluster = try TestKafkaCluster(brokers: 1)
        try cluster.createTopic(topic, partitions: partitions)
        checkpointPath = NSTemporaryDirectory() + "walbridge-test-\(database.name)/checkpoint.json"
    }

    deinit {
        try? FileManager.default.removeItem(atPath: (checkpointPath as NSString).deletingLastPathComponent)
    }

    /// The users mapping of docs/configuration.md's example, with `extra` YAML appended to the mapping.
    func yaml(mappingExtra: String = "", kafkaProperties: String = "", postgresExtra: String = "", kafkaExtra: String = "") -> String {
        """
        postgres:
          url: \(database.bridgeURL)
          slot: \(database.slot)
          publication: walbridge
          \(postgresExtra)
        kafka:
          bootstrap_servers: \(cluster.bootstrapServers)
          properties: {\(kafkaProperties)}
          \(kafkaExtra)
        checkpoint:
          path: \(checkpointPath)
        shutdown_timeout: 10s
        mappings:
          - table: public.users
            topic: \(topic)
            key: [id]
            events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
            fields:
              id: userId
              username: username
              first_name: firstName
              last_name: lastName
              email: email
        \(mappingExtra)
        """
    }

    func configuration(mappingExtra: String = "", kafkaProperties: String = "", postgresExtra: String = "", kafkaExtra: String = "") throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(
            yaml: yaml(mappingExtra: mappingExtra, kafkaProperties: kafkaProperties, postgresExtra: postgresExtra, kafkaExtra: kafkaExtra),
            source: "test.yaml", environment: [:])
    }

    /// Options with short intervals, so tests do not wait for production timings.
    static func testOptions() -> BridgeOptions {
        var options = BridgeOptions()
        options.tuning.checkpointInterval = .milliseconds(20)
        options.tuning.initialBackoff = .milliseconds(100)
        options.tuning.maxBackoff = .seconds(1)
        return options
    }

    /// Starts a bridge and waits until it streams from the slot.
    func startBridge(options: BridgeOptions = BridgeTestSetup.testOptions(), configuration: BridgeConfiguration? = nil) throws -> RunningBridge {
        let bridge = RunningBridge(configuration: try configuration ?? self.configuration(), options: options)
        try database.waitForActiveSlot()
        return bridge
    }

    /// Inserts `count` users, one transaction each, as fast as Postgres allows.
    func insertUsers(prefix: String, count: Int) throws {
        try database.sql("""
            DO $$ BEGIN FOR g IN 1..\(count) LOOP
              INSERT INTO users (username, email, password_hash) VALUES ('\(prefix)' || g, '\(prefix)' || g || '@example.com', 'h');
              COMMIT;
            END LOOP; END $$
            """)
    }

    func collector() throws -> EventCollector {
        try EventCollector(bootstrapServers: cluster.bootstrapServers, topic: topic)
    }

    /// Inserts a user and returns its id.
    @discardableResult
    func insertUser(_ name: String) throws -> Int {
        let result = try database.sql("""
            INSERT INTO users (username, first_name, last_name, email, password_hash)
            VALUES ('\(name)', 'First \(name)', 'Last \(name)', '\(name)@example.com', 'secret-hash-\(name)') RETURNING id
            """)
        return Int(result.rows[0][0]!)!
    }
}
