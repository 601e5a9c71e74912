internal import CRdKafka
import KafkaPublisher
import Logging
import Synchronization

/// An in-process Kafka cluster for tests, the demo and `walbridge dev-broker`:
/// librdkafka's mock cluster (`rdkafka_mock.h`), which speaks the Kafka wire
/// protocol over real TCP on loopback and can inject faults (brokers down,
/// request errors, latency).
///
/// Limits (librdkafka 2.0.2): each partition keeps only its most recent ~5 MB
/// of records (measured: of 20,000 records of 1,000 bytes the last 5,165 stay;
/// 150,000 of 20 bytes all stay), some 7,000 WalBridge events: consume while
/// producing, and check the offsets read are contiguous (a consumer that falls
/// behind the log start is reset to it and skips records, with only a log line); Java
/// Kafka clients cannot talk to it; the admin API (CreateTopics) is not
/// supported (use ``createTopic(_:partitions:replicationFactor:)``; topics
/// are also auto-created on first use). Broker ids are 1-based.
///
/// A program that runs it must block SIGTERM/SIGINT before creating it (before
/// librdkafka starts threads) and take them with `sigwait`, or a signal may
/// land on a librdkafka thread and be lost.
///
/// ## Threading
/// `Sendable`: every call into librdkafka goes through `handles`, a
/// `Mutex`. librdkafka's mock functions are themselves thread-safe (they
/// take `mcluster->lock` or send a command to the mock cluster's own thread
/// and wait for the reply), so the mutex is belt and braces: it serializes
/// our calls and makes the compiler check the claim without `@unchecked`.
public final class TestKafkaCluster: Sendable {
    /// The `rd_kafka_t` the mock cluster needs for book-keeping, and the cluster.
    private struct Handles: ~Copyable {
        let kafka: MockClusterHandle
        let mock: OpaquePointer
    }

    private let handles: Mutex<Handles>

    /// `127.0.0.1:port,...`: pass as `bootstrap.servers` to any librdkafka client.
    public let bootstrapServers: String
    /// Number of brokers (ids 1...brokerCount).
    public let brokerCount: Int

    /// Starts a mock cluster with `brokers` brokers listening on loopback.
    public init(brokers: Int = 1, logger: Logger = Logger(label: "walbridge.kafka.mock")) throws(TestBrokerError) {
        precondition(brokers >= 1, "a cluster needs at least one broker")
        let kafka: MockClusterHandle
        do {
            kafka = try MockClusterHandle(clientID: "walbridge-mock-cluster", logger: logger)
        } catch {
            throw TestBrokerError(code: error.code, message: error.message)
        }
        // On failure `kafka` is destroyed on the way out.
        guard let mock = rd_kafka_mock_cluster_new(kafka.pointer, Int32(brokers)) else {
            throw TestBrokerError(code: .fatal, message: "could not start librdkafka's mock cluster")
        }
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        self.brokerCount = brokers
        self.handles = Mutex(Handles(kafka: kafka, mock: mock))
        logger.info("mock Kafka cluster started", metadata: ["bootstrap.servers": "\(bootstrapServers)"])
    }

    deinit {
        // The cluster first; the book-keeping handle goes with `handles`, after it.
        handles.withLock { handles in
            rd_kafka_mock_cluster_destroy(handles.mock)
        }
    }

    private func check(_ err: rd_kafka_resp_err_t, _ what: String) throws(TestBrokerError) {
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        let code = KafkaError.Code(rawValue: Int32(err.rawValue))
        throw TestBrokerError(code: code, message: "\(what): \(code.librdkafkaDescription)")
    }

    /// Creates `name` with `partitions` partitions. Fails if it exists.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(TestBrokerError) {
        let err = handles.withLock { rd_kafka_mock_topic_create($0.mock, name, partitions, replicationFactor) }
        try check(err, "create topic \(name) (\(partitions) partitions, replication \(replicationFactor))")
    }

    /// Disconnects broker `id` (1-based) and refuses new connections. No leader change.
    public func setBrokerDown(_ id: Int32) throws(TestBrokerError) {
        try check(handles.withLock { rd_kafka_mock_broker_set_down($0.mock, id) }, "set broker \(id) down")
    }

    /// Lets broker `id` accept connections again.
    public func setBrokerUp(_ id: Int32) throws(TestBrokerError) {
        try check(handles.withLock { rd_kafka_mock_broker_set_up($0.mock, id) }, "set broker \(id) up")
    }

    /// Every broker down.
    public func setAllBrokersDown() throws(TestBrokerError) {
        try check(handles.withLock { rd_kafka_mock_broker_set_down($0.mock, -1) }, "set all brokers down")
    }

    /// Every broker up.
    public func setAllBrokersUp() throws(TestBrokerError) {
        try check(handles.withLock { rd_kafka_mock_broker_set_up($0.mock, -1) }, "set all brokers up")
    }

    /// Delays every response of `broker` (-1 = all) by `milliseconds`.
    public func setRoundTripTime(broker: Int32, milliseconds: Int32) throws(TestBrokerError) {
        try check(
            handles.withLock { rd_kafka_mock_broker_set_rtt($0.mock, broker, milliseconds) },
            "set round-trip time of broker \(broker)")
    }

    /// Kafka protocol request types, for ``pushRequestErrors(apiKey:errors:)``.
    public struct APIKey: RawRepresentable, Hashable, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let produce = APIKey(rawValue: 0)
        public static let fetch = APIKey(rawValue: 1)
        public static let listOffsets = APIKey(rawValue: 2)
        public static let metadata = APIKey(rawValue: 3)
        public static let offsetCommit = APIKey(rawValue: 8)
        public static let offsetFetch = APIKey(rawValue: 9)
        public static let findCoordinator = APIKey(rawValue: 10)
        public static let joinGroup = APIKey(rawValue: 11)
        public static let heartbeat = APIKey(rawValue: 12)
        public static let initProducerID = APIKey(rawValue: 22)
    }

    /// The next `errors.count` requests of type `apiKey` (cluster-wide) fail
    /// with these errors, in order. `_TRANSPORT` makes the broker drop the
    /// connection instead.
    public func pushRequestErrors(apiKey: APIKey, errors: [KafkaError.Code]) {
        let raw = errors.map { rd_kafka_resp_err_t($0.rawValue) }
        handles.withLock { handles in
            raw.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(handles.mock, apiKey.rawValue, buffer.count, buffer.baseAddress)
            }
        }
    }

    /// Makes Metadata requests report `code` for `topic` (e.g.
    /// `.unknownTopicOrPartition` to simulate a missing topic); `.noError` clears it.
    public func setTopicError(_ topic: String, _ code: KafkaError.Code) {
        handles.withLock { rd_kafka_mock_topic_set_error($0.mock, topic, rd_kafka_resp_err_t(code.rawValue)) }
    }

    /// Drops the errors still stacked for `apiKey`.
    public func clearRequestErrors(apiKey: APIKey) {
        handles.withLock { rd_kafka_mock_clear_request_errors($0.mock, apiKey.rawValue) }
    }
}

/// A mock-cluster operation failed: librdkafka's code and what was asked.
public struct TestBrokerError: Error, Sendable, CustomStringConvertible {
    /// The librdkafka code.
    public let code: KafkaError.Code
    /// What was asked and librdkafka's description of the code.
    public let message: String

    public var description: String { "Kafka \(code.name): \(message)" }
}
