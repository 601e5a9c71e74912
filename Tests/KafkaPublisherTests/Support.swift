@testable import KafkaPublisher
import KafkaTestBroker
import Logging
import Testing

/// Quiet by default: librdkafka's warnings still show, its chatter doesn't.
func testLogger(_ label: String = "walbridge.kafka.test", level: Logger.Level = .warning) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}

/// A unique topic name per test.
func uniqueTopic(_ prefix: String) -> String {
    "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
}

/// Producer properties that make tests recover quickly from injected faults.
let fastRecoveryProperties: [String: String] = [
    "reconnect.backoff.ms": "20",
    "reconnect.backoff.max.ms": "200",
    "retry.backoff.ms": "20",
    "topic.metadata.refresh.interval.ms": "1000",
]

func makeProducer(
    _ cluster: TestKafkaCluster, properties: [String: String] = [:]
) throws -> KafkaProducer {
    try KafkaProducer(
        configuration: KafkaProducerConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            properties: fastRecoveryProperties.merging(properties) { _, new in new }),
        logger: testLogger())
}

func makeConsumer(_ cluster: TestKafkaCluster) throws -> KafkaConsumer {
    try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers),
        logger: testLogger())
}

/// Produces, polling and retrying while librdkafka's queue is full.
func produceRetryingWhenFull(
    _ producer: KafkaProducer, topic: String, key: [UInt8]?, value: [UInt8]?,
    headers: [KafkaHeader] = [], token: UInt64, into reports: inout [DeliveryReport]
) throws {
    while true {
        do {
            try producer.produce(topic: topic, key: key, value: value, headers: headers, token: token)
            return
        } catch {
            // Not `catch where error.isQueueFull`: with typed throws that
            // pattern crashes swiftc 6.3.1 in -O builds.
            guard error.isQueueFull else { throw error }
            producer.poll(timeoutMilliseconds: 10, into: &reports)
        }
    }
}

/// Polls until `count` reports have arrived (in total in `reports`) or the
/// deadline passes.
func pollReports(
    _ producer: KafkaProducer, until count: Int, into reports: inout [DeliveryReport],
    timeout: Duration = .seconds(15)
) {
    let deadline = ContinuousClock.now + timeout
    while reports.count < count, ContinuousClock.now < deadline {
        producer.poll(timeoutMilliseconds: 50, into: &reports)
    }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
