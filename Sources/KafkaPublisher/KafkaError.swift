internal import CRdKafka

/// An error from librdkafka or from WalBridge's use of it, with the
/// classification the pipeline's delivery policy needs (docs/delivery.md,
/// "The promises": never skip, never stall on one bad row).
///
/// Every error is exactly one of:
///
/// | classification | meaning | what the pipeline does |
/// | --- | --- | --- |
/// | ``isRetriable`` | transient: the record is fine, the cluster or the network is not (yet) | keep the watermark where it is; retry the record (librdkafka already retries internally with `message.timeout.ms=0`; a report with such an error means re-produce) |
/// | ``isPermanent`` | this one record can never be accepted as it is | send what can be sent of it to the dead-letter topic and go on |
/// | ``isFatal`` | this producer instance is unusable (idempotence state lost) | destroy the producer, build a new one, restart from the checkpoint |
///
/// Configuration errors (``kind`` == `.configuration`) are none of the three:
/// they are reported at start-up and the process exits with status 2.
///
/// ``needsOperatorAction`` marks retriable errors that will not go away by
/// themselves (authorization, authentication, a topic configured for an old
/// message format): retrying is still right (nothing is skipped, and the
/// stream resumes once someone fixes it), but they deserve an alert.
///
/// `KafkaError` is a value: `Sendable`, safe to pass between threads.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A librdkafka `rd_kafka_resp_err_t` code: negative values are
    /// librdkafka-local errors (`_TRANSPORT`), non-negative ones are Kafka
    /// protocol errors (`MSG_SIZE_TOO_LARGE`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        init(_ err: rd_kafka_resp_err_t) { self.rawValue = Int32(err.rawValue) }

        /// librdkafka's name of the code: `MSG_SIZE_TOO_LARGE`, `_QUEUE_FULL`.
        public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue))) }
        /// librdkafka's one-line description of the code.
        public var librdkafkaDescription: String { String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue))) }
        public var description: String { name }

        // Local (client-side) errors.
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let resolve = Code(RD_KAFKA_RESP_ERR__RESOLVE)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let unknownPartition = Code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let ssl = Code(RD_KAFKA_RESP_ERR__SSL)
        public static let authentication = Code(RD_KAFKA_RESP_ERR__AUTHENTICATION)
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let purgedFromQueue = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let inconsistent = Code(RD_KAFKA_RESP_ERR__INCONSISTENT)
        public static let gaplessGuarantee = Code(RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE)
        public static let fenced = Code(RD_KAFKA_RESP_ERR__FENCED)
        public static let partitionEOF = Code(RD_KAFKA_RESP_ERR__PARTITION_EOF)

        // Kafka protocol (broker) errors.
        public static let unknown = Code(RD_KAFKA_RESP_ERR_UNKNOWN)
        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        public static let corruptMessage = Code(RD_KAFKA_RESP_ERR_INVALID_MSG)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let leaderNotAvailable = Code(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        public static let notLeaderForPartition = Code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
        public static let requestTimedOut = Code(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
        public static let messageSizeTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let invalidTopic = Code(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
        public static let recordListTooLarge = Code(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)
        public static let notEnoughReplicas = Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
        public static let notEnoughReplicasAfterAppend = Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND)
        public static let topicAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        public static let clusterAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
        public static let invalidTimestamp = Code(RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP)
        public static let unsupportedForMessageFormat = Code(RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT)
        public static let policyViolation = Code(RD_KAFKA_RESP_ERR_POLICY_VIOLATION)
        public static let outOfOrderSequenceNumber = Code(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER)
        public static let invalidProducerEpoch = Code(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
        public static let saslAuthenticationFailed = Code(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
        public static let invalidRecord = Code(RD_KAFKA_RESP_ERR_INVALID_RECORD)
        public static let producerFenced = Code(RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
    }

    /// Where the error came from.
    public enum Kind: String, Sendable, Hashable {
        /// A configuration property was unknown or had an invalid value, or
        /// librdkafka refused the configuration as a whole. ``KafkaError/property``
        /// names the property when there is one.
        case configuration
        /// `produce` refused the record synchronously (it never entered the queue).
        case produce
        /// A delivery report said the record was not delivered.
        case delivery
        /// A client-level event (librdkafka `error_cb`): brokers down, transport,
        /// authentication, fatal errors. Not tied to one record.
        case client
        /// An error reading records (``KafkaConsumer``).
        case consume
    }

    /// The librdkafka code.
    public let code: Code
    /// Where the error came from.
    public let kind: Kind
    /// A human message: what happened and what to do. Never contains the value
    /// of a secret configuration property.
    public let message: String
    /// For configuration errors: the property concerned, when there is one.
    public let property: String?
    /// The topic the record was for, when known.
    public let topic: String?
    /// True when librdkafka raised it as a fatal error (`rd_kafka_fatal_error`),
    /// whatever the code.
    let raisedAsFatal: Bool

    init(
        code: Code,
        kind: Kind,
        message: String,
        property: String? = nil,
        topic: String? = nil,
        raisedAsFatal: Bool = false
    ) {
        self.code = code
        self.kind = kind
        self.message = message
        self.property = property
        self.topic = topic
        self.raisedAsFatal = raisedAsFatal
    }

    public var description: String {
        switch kind {
        case .configuration:
            if let property { return "Kafka configuration error (\(property)): \(message)" }
            return "Kafka configuration error: \(message)"
        default:
            return "Kafka \(code.name): \(message)"
        }
    }

    /// True for a configuration error (bad property name or value).
    public var isConfigurationError: Bool { kind == .configuration }

    /// `produce` found librdkafka's queue full (`_QUEUE_FULL`): serve delivery
    /// reports with `poll` and produce the same record again.
    public var isQueueFull: Bool { code == .queueFull }

    /// The record was purged by ``KafkaProducer/close()``: its delivery is
    /// unknown, so it counts as not delivered (the watermark stays before it).
    public var isPurged: Bool { code == .purgedFromQueue || code == .purgedInFlight }

    /// The producer cannot go on: build a new one and restart from the checkpoint.
    public var isFatal: Bool {
        if kind == .configuration { return false }
        return raisedAsFatal || Self.fatalCodes.contains(code)
    }

    /// This record can never be accepted as it is: dead-letter it.
    public var isPermanent: Bool {
        if kind == .configuration || isFatal { return false }
        return Self.permanentCodes.contains(code)
    }

    /// Transient: retry the record later, never move the watermark past it.
    /// Unknown codes are retriable: never skipping beats never stalling.
    public var isRetriable: Bool {
        kind != .configuration && !isFatal && !isPermanent
    }

    /// A retriable error that will not go away without someone changing the
    /// cluster (ACLs, credentials, topic configuration): alert on it.
    public var needsOperatorAction: Bool {
        Self.operatorCodes.contains(code) || (isFatal && code == .clusterAuthorizationFailed)
    }

    // MARK: Classification tables

    /// Per-record, permanent: the same bytes will always be refused.
    /// - `MSG_SIZE_TOO_LARGE`: the record (key + value + headers) is larger
    ///   than the producer's `message.max.bytes` (refused synchronously by
    ///   `produce`) or the topic's `max.message.bytes` (refused by the broker).
    /// - `RECORD_LIST_TOO_LARGE`: the broker refused the batch as larger than a
    ///   log segment. librdkafka does not split batches, so every record of that
    ///   batch is reported with it; dead-lettering them is still right (nothing
    ///   is lost: the DLQ has them), and it only happens near the segment size.
    /// - `INVALID_RECORD`: broker-side validation (e.g. no key on a compacted topic).
    /// - `TOPIC_EXCEPTION` (invalid topic name): an outbox mapping's
    ///   `{aggregate_type}` can produce a name Kafka refuses for one record.
    /// - `INVALID_TIMESTAMP`: the record's timestamp is outside the broker's
    ///   `message.timestamp.difference.max.ms`.
    static let permanentCodes: Set<Code> = [
        .messageSizeTooLarge, .recordListTooLarge, .invalidRecord, .invalidTopic, .invalidTimestamp,
    ]

    /// The producer instance is dead or its idempotence state can no longer be trusted.
    static let fatalCodes: Set<Code> = [
        .fatal, .gaplessGuarantee, .inconsistent, .fenced,
        .outOfOrderSequenceNumber, .invalidProducerEpoch, .producerFenced,
    ]

    /// Retriable, but only an operator can make them go away.
    /// `TOPIC_AUTHORIZATION_FAILED` is deliberately *not* permanent: a missing
    /// ACL refuses every record of the topic, and dead-lettering a whole topic
    /// because of a permission would move the stream to the DLQ; the right
    /// outcome is to stall (watermark held, nothing lost), alert, and resume
    /// when the ACL is granted.
    static let operatorCodes: Set<Code> = [
        .topicAuthorizationFailed, .clusterAuthorizationFailed, .authentication,
        .saslAuthenticationFailed, .ssl, .unsupportedForMessageFormat, .policyViolation,
    ]

    // MARK: Construction helpers

    /// An error for a librdkafka code outside configuration, with a message
    /// that says what happened and what to do.
    static func from(
        _ code: Code,
        kind: Kind,
        detail: String? = nil,
        topic: String? = nil,
        recordBytes: Int? = nil,
        producerMessageMaxBytes: Int? = nil,
        raisedAsFatal: Bool = false
    ) -> KafkaError {
        KafkaError(
            code: code,
            kind: kind,
            message: explain(
                code, kind: kind, detail: detail, topic: topic, recordBytes: recordBytes,
                producerMessageMaxBytes: producerMessageMaxBytes, raisedAsFatal: raisedAsFatal),
            topic: topic,
            raisedAsFatal: raisedAsFatal)
    }

    static func explain(
        _ code: Code,
        kind: Kind,
        detail: String?,
        topic: String?,
        recordBytes: Int?,
        producerMessageMaxBytes: Int?,
        raisedAsFatal: Bool
    ) -> String {
        let what = detail.flatMap { $0.isEmpty ? nil : $0 } ?? code.librdkafkaDescription
        let onTopic = topic.map { " (topic \($0))" } ?? ""
        let dlq = "or configure kafka.dead_letter_topic so such records are dead-lettered instead"
        if raisedAsFatal || (fatalCodes.contains(code) && kind != .configuration) {
            return "the producer hit a fatal error and cannot continue: \(what). "
                + "WalBridge rebuilds the producer and restarts from the last checkpoint; nothing past it was confirmed."
        }
        switch code {
        case .messageSizeTooLarge:
            if kind == .produce, let recordBytes, let limit = producerMessageMaxBytes {
                let forTopic = topic.map { " for topic \($0)" } ?? ""
                return "record of \(formatBytes(recordBytes)) (key, value and headers)\(forTopic) exceeds the "
                    + "producer's message.max.bytes of \(formatBytes(limit)); raise message.max.bytes in "
                    + "kafka.properties (and max.message.bytes on the topic or broker), \(dlq)"
            }
            return "the broker refused a record\(onTopic) as larger than the topic's max.message.bytes; "
                + "raise max.message.bytes on the topic (message.max.bytes on the broker), \(dlq)"
        case .recordListTooLarge:
            return "the broker refused a batch\(onTopic) as larger than its log segment size (segment.bytes); "
                + "raise segment.bytes on the topic or lower batch.size in kafka.properties, \(dlq)"
        case .invalidRecord:
            return "the broker refused a record\(onTopic) as invalid (\(what)); for a compacted topic every "
                + "record needs a key. Fix the mapping, \(dlq)"
        case .invalidTopic:
            return "the topic name\(onTopic) is not a valid Kafka topic name (\(what)); fix the mapping's topic, \(dlq)"
        case .invalidTimestamp:
            return "the broker refused a record's timestamp\(onTopic) (\(what)); check the broker's "
                + "message.timestamp.difference.max.ms, \(dlq)"
        case .queueFull:
            return "librdkafka's local queue is full (queue.buffering.max.messages / .kbytes); serve delivery "
                + "reports with poll() and produce the record again"
        case .allBrokersDown:
            return "all Kafka brokers are down or unreachable (\(what)); records stay queued and are retried "
                + "until a broker is back. Check bootstrap_servers and the brokers"
        case .transport:
            return "lost or could not open a connection to a broker (\(what)); librdkafka reconnects and retries"
        case .resolve:
            return "could not resolve a broker address (\(what)); check kafka.bootstrap_servers and DNS"
        case .messageTimedOut:
            return "the record\(onTopic) was not acknowledged within message.timeout.ms; it will be produced again. "
                + "Set message.timeout.ms=0 (the default) to let librdkafka retry without limit"
        case .unknownTopicOrPartition, .unknownTopic:
            return "the topic\(onTopic) does not exist (yet); create it or enable auto.create.topics.enable on "
                + "the broker. The record is retried"
        case .topicAuthorizationFailed:
            return "not authorized to write to the topic\(onTopic); grant WRITE (and DESCRIBE) on it to "
                + "WalBridge's principal. The record is retried until it succeeds"
        case .clusterAuthorizationFailed:
            return "not authorized on the cluster (\(what)); the idempotent producer needs IDEMPOTENT_WRITE on "
                + "the cluster for WalBridge's principal"
        case .authentication, .saslAuthenticationFailed:
            return "authentication with the broker failed (\(what)); check the sasl.* / ssl.* properties in "
                + "kafka.properties. Retrying"
        case .ssl:
            return "TLS error talking to the broker (\(what)); check the ssl.* properties in kafka.properties. Retrying"
        case .unsupportedForMessageFormat:
            return "the topic\(onTopic) uses a message format too old for record headers; upgrade the topic's "
                + "message.format.version. Retrying"
        case .policyViolation:
            return "the broker's policy refused the request\(onTopic) (\(what)); check the broker's policies. Retrying"
        case .purgedFromQueue, .purgedInFlight:
            return "the record\(onTopic) was purged when the producer closed; it counts as not delivered and "
                + "will be produced again after restart"
        case .destroyed:
            return "the producer is closed; create a new one"
        default:
            if kind == .delivery || kind == .produce {
                return "\(what)\(onTopic); the record is retried"
            }
            return what
        }
    }

    /// "20000 bytes (20.0 kB)", "2.1 MB", decimal units as Kafka's docs use.
    static func formatBytes(_ bytes: Int) -> String {
        func oneDecimal(_ value: Int, _ unit: Int) -> String {
            let tenths = (value * 10 + unit / 2) / unit
            return "\(tenths / 10).\(tenths % 10)"
        }
        if bytes < 1000 { return "\(bytes) bytes" }
        if bytes < 1_000_000 { return "\(oneDecimal(bytes, 1000)) kB (\(bytes) bytes)" }
        return "\(oneDecimal(bytes, 1_000_000)) MB (\(bytes) bytes)"
    }
}
