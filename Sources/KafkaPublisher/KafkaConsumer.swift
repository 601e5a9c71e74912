internal import CRdKafka
import Logging

/// A simple Kafka consumer for tests and the demo's "show events arriving":
/// reads topics from the beginning, one record per ``poll(timeoutMilliseconds:)``.
///
/// Two ways to start reading:
/// - ``subscribe(topics:)``: join a consumer group (a random group id by
///   default, so every consumer sees everything); the group rebalance takes a
///   moment before the first record.
/// - ``assign(topic:partitions:)`` / ``assignAllPartitions(topic:timeoutMilliseconds:)``:
///   read the given partitions from offset 0, no group coordination: the quick
///   way in tests.
///
/// ## Threading
/// Not `Sendable`: use an instance from one thread at a time (librdkafka's
/// callbacks, the log callback included, run inside ``poll(timeoutMilliseconds:)``
/// on the calling thread).
public final class KafkaConsumer {
    private var handle: OpaquePointer?
    private let state: ConsumerCallbackState
    private var subscribed = false

    /// Creates the consumer. Throws a configuration error naming a bad property.
    public init(
        configuration: KafkaConsumerConfiguration,
        logger: Logger = Logger(label: "walbridge.kafka")
    ) throws(KafkaError) {
        let state = ConsumerCallbackState(logger: logger)
        var builder = ConfBuilder()
        let groupID = configuration.groupID ?? "walbridge-reader-\(UInt64.random(in: 0...UInt64.max))"
        try builder.set("client.id", configuration.clientID ?? "walbridge-reader")
        try builder.set("bootstrap.servers", configuration.bootstrapServers)
        try builder.set("group.id", groupID)
        try builder.set("auto.offset.reset", "earliest")
        try builder.set("enable.auto.commit", "false")
        try builder.set("enable.partition.eof", "false")
        for name in configuration.properties.keys.sorted() {
            try builder.set(name, configuration.properties[name]!)
        }
        try queueLogs(&builder)
        let conf = builder.conf
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
        installLogCallback(conf, opaqueKind: .consumer)
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let opaque else { return }
            Unmanaged<ConsumerCallbackState>.fromOpaque(opaque).takeUnretainedValue()
                .clientError(err: err, reason: reason)
        }
        let handle = try builder.makeHandle(type: RD_KAFKA_CONSUMER)
        // Serve everything (errors, logs, records) from rd_kafka_consumer_poll:
        // logs go to the main queue, which is forwarded to the consumer queue.
        logThroughPollQueue(handle)
        rd_kafka_poll_set_consumer(handle)
        self.handle = handle
        self.state = state
    }

    deinit {
        // Bounded: do not wait to leave the group (the broker may be gone).
        if let handle { rd_kafka_destroy_flags(handle, walbridge_destroy_no_consumer_close_flag()) }
    }

    private func requireHandle() throws(KafkaError) -> OpaquePointer {
        guard let handle else {
            throw KafkaError(code: .destroyed, kind: .consume, message: "the consumer is closed")
        }
        return handle
    }

    /// Joins a consumer group for `topics`; reading starts at the earliest
    /// offset (no committed offsets in a fresh group).
    public func subscribe(topics: [String]) throws(KafkaError) {
        let handle = try requireHandle()
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, walbridge_partition_unassigned())
        }
        let err = rd_kafka_subscribe(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.from(KafkaError.Code(err), kind: .consume, detail: "subscribe to \(topics) failed")
        }
        subscribed = true
    }

    /// Reads `partitions` of `topic` from offset 0, without a consumer group.
    public func assign(topic: String, partitions: [Int32]) throws(KafkaError) {
        let handle = try requireHandle()
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            let element = rd_kafka_topic_partition_list_add(list, topic, partition)
            element?.pointee.offset = walbridge_offset_beginning()
        }
        let err = rd_kafka_assign(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.from(KafkaError.Code(err), kind: .consume, detail: "assign \(topic) failed")
        }
    }

    /// Looks up `topic`'s partition count and reads all its partitions from
    /// offset 0. Throws when the topic's metadata can't be had in time.
    public func assignAllPartitions(topic: String, timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) {
        let count = try partitionCount(topic: topic, timeoutMilliseconds: timeoutMilliseconds)
        try assign(topic: topic, partitions: Array(0..<count))
    }

    /// The number of partitions of `topic`, from the cluster's metadata.
    public func partitionCount(topic: String, timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) -> Int32 {
        try fetchPartitionCount(handle: try requireHandle(), topic: topic, timeoutMilliseconds: timeoutMilliseconds, kind: .consume)
    }

    /// Waits up to `timeoutMilliseconds` for the next record; nil when none
    /// arrived in time. Transient consumer errors (broker down …) are logged,
    /// collected in ``takeErrors()`` and yield nil; fatal ones are thrown.
    public func poll(timeoutMilliseconds: Int32) throws(KafkaError) -> ConsumedRecord? {
        let handle = try requireHandle()
        guard let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) }
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let code = KafkaError.Code(m.err)
            if code == .partitionEOF { return nil }
            // For a consumer error the payload is librdkafka's error string.
            let detail = rd_kafka_message_errstr(message).map { String(cString: $0) }
            let error = KafkaError.from(code, kind: .consume, detail: detail, topic: topic)
            if error.isFatal { throw error }
            state.logger.warning("\(error.message)", metadata: ["kafka.error": "\(code.name)"])
            state.record(error)
            return nil
        }
        var headers: [KafkaHeader] = []
        var cHeaders: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &cHeaders) == RD_KAFKA_RESP_ERR_NO_ERROR, let cHeaders {
            var index = 0
            while true {
                var name: UnsafePointer<CChar>? = nil
                var value: UnsafeRawPointer? = nil
                var size = 0
                guard rd_kafka_header_get_all(cHeaders, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR
                else { break }
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return ConsumedRecord(
            topic: topic ?? "",
            partition: m.partition,
            offset: m.offset,
            key: m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) },
            value: m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) },
            headers: headers,
            timestampMilliseconds: timestamp >= 0 ? timestamp : nil)
    }

    /// Polls until `count` records arrived or `timeoutMilliseconds` passed;
    /// returns what arrived (possibly fewer).
    public func poll(count: Int, timeoutMilliseconds: Int) throws(KafkaError) -> [ConsumedRecord] {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        var records: [ConsumedRecord] = []
        while records.count < count, ContinuousClock.now < deadline {
            if let record = try poll(timeoutMilliseconds: 100) { records.append(record) }
        }
        return records
    }

    /// The end offsets (high watermarks: the offset the next record will get)
    /// of `partitions` of `topic`, asked of the partitions' leaders; throws when
    /// a leader cannot answer within `timeoutMilliseconds`.
    public func endOffsets(topic: String, partitions: [Int32], timeoutMilliseconds: Int32 = 2_000) throws(KafkaError) -> [Int64] {
        let handle = try requireHandle()
        var ends: [Int64] = []
        ends.reserveCapacity(partitions.count)
        for partition in partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.from(KafkaError.Code(err), kind: .consume, detail: "end offset of \(topic)[\(partition)] unknown", topic: topic)
            }
            ends.append(high)
        }
        return ends
    }

    /// Consumer and client errors collected since the last call (bounded, oldest dropped).
    public func takeErrors() -> [KafkaError] {
        defer { state.errors.removeAll(keepingCapacity: true) }
        return state.errors
    }

    /// Leaves the group (when subscribed) and destroys the handle. Idempotent.
    public func close() {
        guard let handle else { return }
        if subscribed { _ = rd_kafka_consumer_close(handle) }
        // Without NO_CONSUMER_CLOSE, rd_kafka_destroy would close the consumer
        // (again, or for the first time after assign) and may wait on the broker.
        rd_kafka_destroy_flags(handle, walbridge_destroy_no_consumer_close_flag())
        self.handle = nil
    }
}

@available(*, unavailable, message: "KafkaConsumer is used from one thread at a time")
extension KafkaConsumer: Sendable {}

/// Reached by the consumer's librdkafka callbacks through the conf opaque.
/// `errors` is touched only on the polling thread (error_cb runs inside
/// rd_kafka_consumer_poll); `logger` is immutable (log_cb reads it inside the same poll).
final class ConsumerCallbackState: LibrdkafkaLogTarget {
    let logger: Logger
    var errors: [KafkaError] = []

    init(logger: Logger) { self.logger = logger }

    func record(_ error: KafkaError) {
        if errors.count >= 1000 { errors.removeFirst() }
        errors.append(error)
    }

    func clientError(err: Int32, reason: UnsafePointer<CChar>?) {
        let code = KafkaError.Code(rawValue: err)
        let error = KafkaError.from(code, kind: .client, detail: reason.map { String(cString: $0) })
        logger.warning("\(error.message)", metadata: ["kafka.error": "\(code.name)"])
        record(error)
    }
}

/// Asks the cluster for `topic`'s metadata (`rd_kafka_metadata`) and returns
/// its partition count; throws the topic's error (`UNKNOWN_TOPIC_OR_PART` …).
func fetchPartitionCount(
    handle: OpaquePointer, topic: String, timeoutMilliseconds: Int32, kind: KafkaError.Kind
) throws(KafkaError) -> Int32 {
    guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
        throw KafkaError(code: .invalidArgument, kind: kind, message: "invalid topic name \"\(topic)\"", topic: topic)
    }
    defer { rd_kafka_topic_destroy(topicHandle) }
    var metadata: UnsafePointer<rd_kafka_metadata>? = nil
    let err = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        throw KafkaError.from(KafkaError.Code(err), kind: kind, detail: "metadata for \(topic) failed", topic: topic)
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics else {
        throw KafkaError.from(.unknownTopicOrPartition, kind: kind, topic: topic)
    }
    let info = topics[0]
    guard info.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
        throw KafkaError.from(KafkaError.Code(info.err), kind: kind, topic: topic)
    }
    return info.partition_cnt
}
