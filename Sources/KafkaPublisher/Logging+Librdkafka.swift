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
/// to log. `log_cb` runs on librdkafka's internal threads, so it may only read
/// `logger`, an immutable `Sendable` value set before the handle exists.
protocol LibrdkafkaLogTarget: AnyObject {
    var logger: Logger { get }
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
