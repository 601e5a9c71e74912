import Configuration
import EventMapping
import Foundation
import HTTPTestClient
import KafkaPublisher
import Testing
import WalBridge

/// Issue 4, point 9: a record Kafka permanently rejects, or a row the mapping
/// cannot turn into an event, goes to the dead-letter topic with the reason, and
/// the stream goes on; without one the bridge stops with a clear error and a
/// checkpoint before the failure. Nothing is silently dropped.
@Suite("Dead-letter topic", .serialized)
struct DeadLetterTests {
    let deadLetterTopic = "walbridge.dlq"

    func setUp(_ setup: BridgeTestSetup) throws -> EventCollector {
        try setup.cluster.createTopic(deadLetterTopic, partitions: 1)
        return try EventCollector(bootstrapServers: setup.cluster.bootstrapServers, topic: deadLetterTopic)
    }

    @Test("a record the broker rejects as too large is dead-lettered without data; the next one flows")
    func brokerRejects() throws {
        let setup = try BridgeTestSetup()
        let letters = try setUp(setup)
        // The count of dead letters is visible in the metrics too.
        let port = Int.random(in: 20_000..<30_000)
        let yaml = "metrics: {listen: 127.0.0.1:\(port)}\n" + setup.yaml(kafkaExtra: "dead_letter_topic: \(deadLetterTopic)")
        let bridge = try setup.startBridge(configuration: try BridgeConfiguration.parse(yaml: yaml, source: "test.yaml", environment: [:]))
        let collector = try setup.collector()
        try setup.insertUser("warmup")
        try collector.collect(count: 1)
        // The registry is per process: compare with the counters before the rejection.
        func published(_ exposition: String) -> Double {
            exposition.split(separator: "\n")
                .filter { $0.hasPrefix("walbridge_events_published_total{") && $0.contains(#"table="public.users""#) && $0.contains(#"event="UserRegistered""#) }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        var before = ""
        try waitUntil("the warm-up event counted", timeout: .seconds(10)) {
            before = try httpGet(port: port, path: "/metrics").body
            return published(before) >= 1
        }
        let deadBefore = prometheusValue(before, "walbridge_events_dead_lettered_total") ?? 0
        setup.cluster.pushRequestErrors(apiKey: .produce, errors: [.messageSizeTooLarge])
        let rejected = try setup.insertUser("rejected")
        let dead = try letters.collect(count: 1)
        try setup.insertUser("accepted")
        let events = try collector.collect(count: 2)
        try waitUntil("the dead-letter and published counters", timeout: .seconds(10)) {
            let exposition = try httpGet(port: port, path: "/metrics").body
            return prometheusValue(exposition, "walbridge_events_dead_lettered_total") == deadBefore + 1
                && published(exposition) == published(before) + 1
        }
        #expect(try bridge.stopAndWait() == nil)
        let letter = try #require(dead.first)
        #expect(letter.key == "\(rejected)", "same key as the event")
        #expect(letter.header("walbridge-error")?.contains("MSG_SIZE_TOO_LARGE") == true)
        #expect(letter.header("walbridge-source-topic") == setup.topic)
        #expect(letter.envelope["data"] == nil, "an oversized event loses its data")
        #expect(letter.envelope["eventType"] as? String == "UserRegistered")
        #expect((letter.envelope["error"] as? String)?.isEmpty == false)
        #expect(events.last?.username == "accepted")
    }

    @Test("an event larger than the producer's message.max.bytes is dead-lettered as its envelope plus the error")
    func producerRejects() throws {
        let setup = try BridgeTestSetup()
        let letters = try setUp(setup)
        let configuration = try setup.configuration(
            kafkaProperties: "message.max.bytes: 1000", kafkaExtra: "dead_letter_topic: \(deadLetterTopic)")
        let bridge = try setup.startBridge(configuration: configuration)
        let collector = try setup.collector()
        let id = try setup.database.sql("""
            INSERT INTO users (username, first_name, email, password_hash)
            VALUES ('huge', repeat('x', 3000), 'huge@example.com', 'h') RETURNING id
            """).rows[0][0]!
        try setup.insertUser("small")
        let dead = try letters.collect(count: 1)
        let events = try collector.collect(count: 1)
        #expect(try bridge.stopAndWait() == nil)
        #expect(dead.first?.key == id)
        #expect(dead.first?.header("walbridge-error")?.contains("MSG_SIZE_TOO_LARGE") == true)
        #expect(dead.first?.envelope["data"] == nil)
        #expect(dead.first?.envelope["eventId"] != nil)
        #expect(events.map(\.username) == ["small"])
    }

    @Test("a row the mapping cannot encode is dead-lettered with its mapped columns only, and the stream goes on")
    func unmappableRow() throws {
        let setup = try BridgeTestSetup()
        let letters = try setUp(setup)
        // first_name is nullable: as the Kafka key, a NULL cannot be encoded.
        let yaml = setup.yaml(kafkaExtra: "dead_letter_topic: \(deadLetterTopic)")
            .replacingOccurrences(of: "key: [id]", with: "key: [first_name]")
        let configuration = try BridgeConfiguration.parse(yaml: yaml, source: "test.yaml", environment: [:])
        let bridge = try setup.startBridge(configuration: configuration)
        let collector = try setup.collector()
        try setup.database.sql("INSERT INTO users (username, email, password_hash) VALUES ('nokey', 'nokey@example.com', 'secret-hash-nokey')")
        try setup.insertUser("haskey")
        let dead = try letters.collect(count: 1)
        let events = try collector.collect(count: 1)
        #expect(try bridge.stopAndWait() == nil)
        let raw = String(decoding: dead.first?.record.value ?? [], as: UTF8.self)
        #expect(raw.contains("nokey"))
        #expect(!raw.contains("secret-hash") && !raw.contains("password"), "only allowlisted columns: \(raw)")
        #expect(dead.first?.header("walbridge-error")?.contains("first_name") == true)
        #expect(dead.first?.eventID != nil, "the dead letter names the event id the change would have had")
        #expect(events.map(\.username) == ["haskey"])
    }

    @Test("without a dead-letter topic a permanent failure stops the bridge, checkpointed before it")
    func stopsWithoutDeadLetterTopic() throws {
        let setup = try BridgeTestSetup()
        let yaml = setup.yaml().replacingOccurrences(of: "key: [id]", with: "key: [first_name]")
        let config = try setup.writeConfiguration(yaml)
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUser("good")
        try collector.collect(count: 1)
        try setup.database.sql("INSERT INTO users (username, email, password_hash) VALUES ('bad', 'bad@example.com', 'h')")
        let badCommit = try setup.database.currentInsertLSN()
        #expect(try process.waitForExit() == 1)
        #expect(process.stderr.contains("dead_letter_topic"), "the error says how to go on: \(process.stderr)")
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(checkpoint.lsn < badCommit, "the checkpoint stays before the failed transaction")
        #expect(try collector.collectAll().map(\.username) == ["good"], "nothing after it was published")
    }
}
