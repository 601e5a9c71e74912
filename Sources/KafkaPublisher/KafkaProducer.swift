internal import CRdKafka
import Logging

/// WalBridge's Kafka producer: librdkafka's idempotent producer with
/// `acks=all`, per-record tokens handed back in delivery reports, and error
/// classification for the delivery policy.
///
/// ## Threading
/// Not `Sendable`. Use one instance from ONE thread: the pipeline's event
/// loop. Delivery reports, client errors and librdkafka's log lines
/// (`log.queue=true`, forwarded to the main queue) are served by librdkafka
/// callbacks that run inside ``poll(timeoutMilliseconds:into:)`` (and
/// ``flush(timeoutMilliseconds:)``) on the calling thread; reports and errors
/// are buffered in this object. No Swift code runs on librdkafka's own threads.
///
/// ## Lifecycle
/// ``close()`` purges whatever is still queued or in flight (those records get
/// `_PURGE_QUEUE`/`_PURGE_INFLIGHT` reports: not delivered) and destroys the
/// handle, so shutdown is bounded. Waiting for outstanding deliveries first
/// (`shutdown_timeout`) is the pipeline's decision: call ``flush(timeoutMilliseconds:)``
/// or poll before ``close()``. `deinit` closes without serving reports.
///
/// ## Fatal errors
/// With idempotence, librdkafka may raise a fatal error (``fatalError()``
/// non-nil, reports with `_FATAL`): the instance is then unusable. Close it,
/// build a new one and restart from the checkpoint.
public final class KafkaProducer {
    private var handle: OpaquePointer?
    /// Reached by librdkafka's callbacks through the conf opaque; outlives
    /// `handle` (released only after `rd_kafka_destroy` in `close`/`deinit`).
    private let state: ProducerCallbackState
    /// The producer's effective `message.max.bytes`, for error messages.
    private let messageMaxBytes: Int
    /// A handle for every topic produced to, kept until `close`, created with a
    /// synchronous metadata lookup (see ``prepare(topics:timeoutMilliseconds:)``).
    private var topicHandles: [String: OpaquePointer] = [:]
    /// The topic of the previous record and its handle (one of `topicHandles`).
    private var lastTopic: (name: String, handle: OpaquePointer)?

    /// The logger that receives librdkafka's log lines and client errors.
    public var logger: Logger { state.logger }

    /// Creates the producer (librdkafka starts its threads and connects lazily).
    /// Throws a configuration error naming the property for an unknown property
    /// or an invalid value; secret values never appear in the error.
    public init(
        configuration: KafkaProducerConfiguration,
        logger: Logger = Logger(label: "walbridge.kafka")
    ) throws(KafkaError) {
        precondition(MemoryLayout<UInt>.size == MemoryLayout<UInt64>.size,
                     "WalBridge passes 64-bit tokens as librdkafka msg_opaque pointers")
        let state = ProducerCallbackState(logger: logger)
        var builder = ConfBuilder()
        for (name, value) in KafkaProducerConfiguration.defaultProperties {
            try builder.set(name, value)
        }
        try builder.set("client.id", configuration.clientID ?? "walbridge")
        try builder.set("bootstrap.servers", configuration.bootstrapServers)
        // Sorted, so the first bad property reported is deterministic.
        for name in configuration.properties.keys.sorted() {
            try builder.set(name, configuration.properties[name]!)
        }
        try queueLogs(&builder)
        self.messageMaxBytes = builder.get("message.max.bytes").flatMap { Int($0) } ?? 1_000_000

        let conf = builder.conf
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
        installLogCallback(conf, opaqueKind: .producer)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            Unmanaged<ProducerCallbackState>.fromOpaque(opaque).takeUnretainedValue()
                .deliveryReport(message)
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let opaque else { return }
            Unmanaged<ProducerCallbackState>.fromOpaque(opaque).takeUnretainedValue()
                .clientError(rk: rk, err: err, reason: reason)
        }

        let handle = try builder.makeHandle(type: RD_KAFKA_PRODUCER)
        logThroughPollQueue(handle)
        self.handle = handle
        self.state = state
        logger.debug(
            "Kafka producer created",
            metadata: [
                "bootstrap.servers": "\(configuration.bootstrapServers)",
                "properties": "\(Self.describe(configuration.properties))",
            ])
    }

    deinit {
        if let handle {
            rd_kafka_purge(handle, walbridge_purge_queued_and_inflight_flags())
            destroyTopicHandles()
            rd_kafka_destroy(handle)
        }
    }

    private func destroyTopicHandles() {
        lastTopic = nil
        for topicHandle in topicHandles.values { rd_kafka_topic_destroy(topicHandle) }
        topicHandles = [:]
    }

    /// Learns the partitions of `topics` now, waiting up to `timeoutMilliseconds`
    /// for each (a topic already prepared costs nothing).
    ///
    /// Without it, librdkafka holds the first record to a topic until its next
    /// one-second timer asks for that topic's metadata: up to a second of
    /// latency at start-up. ``produce(topic:key:value:headers:token:)`` prepares
    /// a new topic itself (so a topic first seen mid-stream waits at most this
    /// long, once); call this before streaming to take that wait out of the stream.
    public func prepare(topics: [String], timeoutMilliseconds: Int32 = 500) {
        guard let handle else { return }
        for topic in topics where topicHandles[topic] == nil {
            guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else { continue }
            topicHandles[topic] = topicHandle
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            if rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR,
               let metadata {
                rd_kafka_metadata_destroy(metadata)
            }
        }
    }

    /// Property names and values for logs, secret values redacted.
    static func describe(_ properties: [String: String]) -> String {
        redactedDescription(of: properties)
    }

    // MARK: Producing

    /// Queues one record; its ``DeliveryReport`` (with `token`) comes back from
    /// a later ``poll(timeoutMilliseconds:into:)``.
    ///
    /// - `key`: nil = null key (random partition); same key → same partition.
    /// - `value`: nil = null value (a tombstone); `[]` is an empty, non-null value.
    /// - `token`: any value; returned as is (no allocation per record).
    ///
    /// Throws synchronously when librdkafka refuses the record:
    /// `isQueueFull` (poll, then retry), `MSG_SIZE_TOO_LARGE` (`isPermanent`:
    /// larger than the producer's `message.max.bytes`), `_FATAL` (`isFatal`),
    /// `_UNKNOWN_TOPIC` (retriable), `_DESTROY` after ``close()``.
    public func produce(
        topic: String,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        token: UInt64
    ) throws(KafkaError) {
        guard let handle else {
            throw KafkaError.from(.destroyed, kind: .produce, topic: topic)
        }
        let topicHandle = topicHandle(for: topic)
        var cHeaders: OpaquePointer? = nil
        if !headers.isEmpty {
            cHeaders = rd_kafka_headers_new(headers.count)
            for header in headers {
                // The name goes with its length: no NUL-terminated copy
                // (`String` → `char *` would allocate one for a small string).
                var name = header.name
                name.withUTF8 { name in
                    withOptionalBytes(header.value) { pointer, count, present in
                        _ = walbridge_header_add(cHeaders, name.baseAddress, name.count, pointer, count, present)
                    }
                }
            }
        }
        let opaque = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: token))
        let err = withOptionalBytes(key) { keyPointer, keyCount, keyPresent in
            withOptionalBytes(value) { valuePointer, valueCount, valuePresent in
                if let topicHandle {
                    return walbridge_produce(
                        handle, topicHandle, nil,
                        keyPointer, keyCount, keyPresent,
                        valuePointer, valueCount, valuePresent,
                        cHeaders, opaque)
                }
                return walbridge_produce(
                    handle, nil, topic,
                    keyPointer, keyCount, keyPresent,
                    valuePointer, valueCount, valuePresent,
                    cHeaders, opaque)
            }
        }
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        // On failure the headers are still ours.
        if let cHeaders { rd_kafka_headers_destroy(cHeaders) }
        let recordBytes = (key?.count ?? 0) + (value?.count ?? 0)
            + headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        var raisedAsFatal = false
        var code = KafkaError.Code(err)
        var detail: String? = nil
        if code == .fatal, let fatal = Self.fatalErrorDetails(handle) {
            raisedAsFatal = true
            code = fatal.code
            detail = fatal.reason
        }
        throw KafkaError.from(
            code, kind: .produce, detail: detail, topic: topic, recordBytes: recordBytes,
            producerMessageMaxBytes: messageMaxBytes, raisedAsFatal: raisedAsFatal)
    }

    /// The handle of `topic`, preparing it the first time (nil if librdkafka
    /// refused one: then the record names its topic). The last one is kept
    /// aside: a stream mostly produces to one topic, so most calls cost a
    /// string comparison instead of a dictionary lookup.
    @inline(__always)
    private func topicHandle(for topic: String) -> OpaquePointer? {
        if let last = lastTopic, last.name == topic { return last.handle }
        if topicHandles[topic] == nil { prepare(topics: [topic]) }
        guard let handle = topicHandles[topic] else { return nil }
        lastTopic = (topic, handle)
        return handle
    }

    // MARK: Serving callbacks

    /// Serves librdkafka's callbacks on this thread, waiting up to
    /// `timeoutMilliseconds` (0 = don't wait, -1 = forever) for the first
    /// event, and appends the delivery reports collected since the last call
    /// to `reports` (reusing its storage: no allocation once warm).
    /// Client errors collected meanwhile are available from ``takeClientErrors()``.
    /// Returns the number of reports appended.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32 = 0, into reports: inout [DeliveryReport]) -> Int {
        if let handle { rd_kafka_poll(handle, timeoutMilliseconds) }
        return state.drainReports(into: &reports)
    }

    /// Like ``poll(timeoutMilliseconds:into:)``, returning a new array.
    public func poll(timeoutMilliseconds: Int32 = 0) -> [DeliveryReport] {
        var reports: [DeliveryReport] = []
        poll(timeoutMilliseconds: timeoutMilliseconds, into: &reports)
        return reports
    }

    /// Client-level errors (librdkafka `error_cb`: `_ALL_BROKERS_DOWN`,
    /// `_TRANSPORT`, `_AUTHENTICATION`, fatal errors …) collected by the polls
    /// since the last call, oldest first. Bounded: beyond 1000 unread errors the
    /// oldest are dropped (they are diagnostics and are logged as they arrive;
    /// records are never dropped). A fatal one (`isFatal`) means: rebuild.
    public func takeClientErrors() -> [KafkaError] {
        defer { state.clientErrors.removeAll(keepingCapacity: true) }
        return state.clientErrors
    }

    /// Waits up to `timeoutMilliseconds` for every queued record to be
    /// delivered or failed, serving callbacks meanwhile (their reports are
    /// returned by the next poll). Returns true when nothing is outstanding.
    @discardableResult
    public func flush(timeoutMilliseconds: Int32) -> Bool {
        guard let handle else { return true }
        return rd_kafka_flush(handle, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Records (and events) librdkafka still holds: queued, in flight, or
    /// reported but not yet served by poll (`rd_kafka_outq_len`).
    public var outstandingCount: Int {
        guard let handle else { return 0 }
        return Int(rd_kafka_outq_len(handle))
    }

    /// The number of partitions of `topic`, from the cluster's metadata
    /// (for start-up and `walbridge validate` checks). Throws
    /// `UNKNOWN_TOPIC_OR_PART` for a missing topic, `_TRANSPORT`/`_TIMED_OUT`
    /// when the cluster can't be reached in time. On a broker with
    /// `auto.create.topics.enable=true` the request itself may create the topic.
    ///
    /// Check topics before streaming: with `message.timeout.ms=0`, a record
    /// for a topic that does not exist (and is not auto-created) waits in
    /// librdkafka forever with neither a delivery report nor a client error.
    public func partitionCount(topic: String, timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) -> Int32 {
        guard let handle else { throw KafkaError.from(.destroyed, kind: .client, topic: topic) }
        return try fetchPartitionCount(handle: handle, topic: topic, timeoutMilliseconds: timeoutMilliseconds, kind: .client)
    }

    /// The fatal error that made this producer unusable, if any
    /// (`rd_kafka_fatal_error`). Non-nil means: close it, build a new one,
    /// restart from the checkpoint.
    public func fatalError() -> KafkaError? {
        guard let handle, let fatal = Self.fatalErrorDetails(handle) else { return nil }
        return KafkaError.from(fatal.code, kind: .client, detail: fatal.reason, raisedAsFatal: true)
    }

    static func fatalErrorDetails(_ handle: OpaquePointer) -> (code: KafkaError.Code, reason: String)? {
        var buffer = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (KafkaError.Code(err), reason)
    }

    /// Triggers a fatal error, for tests of the rebuild path (`rd_kafka_test_fatal_error`).
    func triggerFatalErrorForTesting(_ code: KafkaError.Code, reason: String) {
        guard let handle else { return }
        _ = rd_kafka_test_fatal_error(handle, rd_kafka_resp_err_t(code.rawValue), reason)
    }

    // MARK: Shutdown

    /// Purges queued and in-flight records, serves their reports, and destroys
    /// the handle: bounded, never waits for the cluster. Returns the reports
    /// not yet handed out (delivered ones that were waiting, and purged ones
    /// with `isPurged`, which count as not delivered). Idempotent; after it,
    /// `produce` throws `_DESTROY` and `poll` returns nothing.
    @discardableResult
    public func close() -> [DeliveryReport] {
        guard let handle else { return [] }
        rd_kafka_purge(handle, walbridge_purge_queued_and_inflight_flags())
        rd_kafka_poll(handle, 0)
        var reports: [DeliveryReport] = []
        state.drainReports(into: &reports)
        destroyTopicHandles()
        rd_kafka_destroy(handle)
        self.handle = nil
        return reports
    }
}

@available(*, unavailable, message: "KafkaProducer is used from one thread only")
extension KafkaProducer: Sendable {}

/// Calls `body` with a pointer, a length and a presence flag (0 = nil) for
/// optional bytes, without copying.
@inline(__always)
func withOptionalBytes<R>(
    _ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int, Int32) -> R
) -> R {
    guard let bytes else { return body(nil, 0, 0) }
    return bytes.withUnsafeBytes { body($0.baseAddress, $0.count, 1) }
}

/// What librdkafka's callbacks reach through the conf opaque.
/// `reports` and `clientErrors` are only touched by `dr_msg_cb`/`error_cb`,
/// which librdkafka runs inside `rd_kafka_poll`/`rd_kafka_flush` on the
/// producer's one thread, and by the producer's methods on that same thread.
/// `logger` is immutable; `log_cb` reads it inside the same polls.
final class ProducerCallbackState: LibrdkafkaLogTarget {
    let logger: Logger
    var reports: [DeliveryReport] = []
    var clientErrors: [KafkaError] = []
    static let maxClientErrors = 1000

    init(logger: Logger) {
        self.logger = logger
        reports.reserveCapacity(1024)
    }

    @discardableResult
    func drainReports(into destination: inout [DeliveryReport]) -> Int {
        let count = reports.count
        guard count > 0 else { return 0 }
        if destination.isEmpty {
            swap(&destination, &reports)
        } else {
            destination.append(contentsOf: reports)
            reports.removeAll(keepingCapacity: true)
        }
        return count
    }

    func deliveryReport(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let token = UInt64(UInt(bitPattern: m._private))
        var error: KafkaError? = nil
        var failed: FailedRecord? = nil
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Not rd_kafka_message_errstr(): for a delivery report the payload
            // is the record's value, which it would return as "the error".
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) }
            error = KafkaError.from(KafkaError.Code(m.err), kind: .delivery, topic: topic)
            func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
                guard let pointer else { return nil }
                return Array(UnsafeRawBufferPointer(start: pointer, count: count))
            }
            failed = FailedRecord(topic: topic ?? "", key: bytes(m.key, m.key_len), value: bytes(m.payload, m.len))
        }
        reports.append(DeliveryReport(token: token, error: error, partition: m.partition, offset: m.offset, failedRecord: failed))
    }

    func clientError(rk: OpaquePointer?, err: Int32, reason: UnsafePointer<CChar>?) {
        var code = KafkaError.Code(rawValue: err)
        var detail = reason.map { String(cString: $0) }
        var raisedAsFatal = false
        if code == .fatal, let rk, let fatal = KafkaProducer.fatalErrorDetails(rk) {
            code = fatal.code
            detail = fatal.reason
            raisedAsFatal = true
        }
        let error = KafkaError.from(code, kind: .client, detail: detail, raisedAsFatal: raisedAsFatal)
        // librdkafka logs most of these itself (log_cb); log ours at a level
        // that does not double the noise of an outage.
        let level: Logger.Level =
            error.isFatal ? .error
            : (code == .allBrokersDown || error.needsOperatorAction) ? .warning
            : .info
        logger.log(level: level, "\(error.message)", metadata: ["kafka.error": "\(code.name)"])
        if clientErrors.count >= Self.maxClientErrors { clientErrors.removeFirst() }
        clientErrors.append(error)
    }
}
