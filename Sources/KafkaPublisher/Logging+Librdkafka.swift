internal import CRdKafka
import Logging

// The default logger label is "walbridge.kafka" (the inits' default arguments).

/// librdkafka logs with syslog levels (0 emerg … 7 debug).
func loggerLevel(syslogLevel: Int32) -> Logger.Level {
    switch syslogLevel {
    case ...2: return .critical
    case 3: return .error
    case 4: return .warning
    case 5: return .notice
    case 6: return .info
    default: return .debug
    }
}

/// Something librdkafka's C callbacks can reach through `rd_kafka_opaque(rk)`
/// to log. For the producer and the consumer, `log_cb` runs inside their
/// poll, on the polling thread (see `logThroughPollQueue`); for the mock
/// cluster's book-keeping handle, which nobody polls, it runs on librdkafka's
/// internal threads. Either way it only reads `logger`, an immutable
/// `Sendable` value set before the handle exists.
protocol LibrdkafkaLogTarget: AnyObject {
    var logger: Logger { get }
}

/// Sets `log.queue=true` on the configuration, after every user property (so
/// `kafka.properties` cannot turn it off): librdkafka then queues its log
/// lines instead of calling `log_cb` on its own threads. Call
/// `logThroughPollQueue(_:)` on the handle made from this configuration.
func queueLogs(_ builder: inout ConfBuilder) throws(KafkaError) {
    try builder.set("log.queue", "true")
}

/// Forwards the handle's log queue to its main queue, which
/// `rd_kafka_poll` (the producer) or `rd_kafka_consumer_poll` (the consumer,
/// whose main queue is forwarded to the consumer queue) serves: `log_cb` runs
/// inside those polls, on the polling thread, next to the delivery reports
/// and client errors. Lines logged while the handle was being made are
/// queued too and come out of the first poll.
func logThroughPollQueue(_ handle: OpaquePointer) {
    let result = rd_kafka_set_log_queue(handle, nil)
    // Only fails (_NOT_CONFIGURED) without log.queue=true, which `queueLogs` sets.
    precondition(result == RD_KAFKA_RESP_ERR_NO_ERROR, "rd_kafka_set_log_queue without log.queue=true")
}

/// Installs the log callback on `conf`: librdkafka's log lines go to swift-log
/// instead of stderr. The conf's opaque must point to a `LibrdkafkaLogTarget`
/// (see `logTarget(from:)`) that outlives the handle.
func installLogCallback(_ conf: OpaquePointer?, opaqueKind: OpaqueKind) {
    switch opaqueKind {
    case .producer:
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buffer in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let target = Unmanaged<ProducerCallbackState>.fromOpaque(opaque).takeUnretainedValue()
            emitLibrdkafkaLog(target.logger, level: level, facility: facility, buffer: buffer)
        }
    case .consumer:
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buffer in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let target = Unmanaged<ConsumerCallbackState>.fromOpaque(opaque).takeUnretainedValue()
            emitLibrdkafkaLog(target.logger, level: level, facility: facility, buffer: buffer)
        }
    case .logOnly:
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buffer in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let target = Unmanaged<LogOnlyCallbackState>.fromOpaque(opaque).takeUnretainedValue()
            emitLibrdkafkaLog(target.logger, level: level, facility: facility, buffer: buffer)
        }
    }
}

/// Which concrete class the conf opaque points to (C callbacks cannot be
/// generic, so each kind has its own non-capturing closure).
enum OpaqueKind {
    case producer
    case consumer
    case logOnly
}

func emitLibrdkafkaLog(
    _ logger: Logger, level: Int32, facility: UnsafePointer<CChar>?, buffer: UnsafePointer<CChar>?
) {
    var swiftLevel = loggerLevel(syslogLevel: level)
    let fac = facility.map { String(cString: $0) } ?? ""
    // librdkafka logs every failed connection attempt ("FAIL") at LOG_ERR, but
    // it is transient and retried: a warning (the error_cb event carries the
    // same news to the pipeline).
    if swiftLevel == .error && fac == "FAIL" { swiftLevel = .warning }
    guard logger.logLevel <= swiftLevel else { return }
    let text = buffer.map { String(cString: $0) } ?? ""
    logger.log(level: swiftLevel, "\(text)", metadata: ["librdkafka.facility": "\(fac)"])
}

/// Opaque target for handles that only need logging (the mock cluster's handle).
/// Immutable, so `Sendable`.
final class LogOnlyCallbackState: LibrdkafkaLogTarget, Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}
