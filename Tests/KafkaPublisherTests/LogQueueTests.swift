@testable import KafkaPublisher
import Foundation
import Logging
import Synchronization
import Testing

/// One log line as a `RecordingLogHandler` saw it, with the thread that logged it.
struct RecordedLogLine: Sendable {
    var level: Logger.Level
    var message: String
    var facility: String?
    var thread: pthread_t
}

/// A swift-log handler that keeps every line with the calling thread's id.
struct RecordingLogHandler: LogHandler {
    let recording: LogRecording
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let facility = event.metadata?["librdkafka.facility"].map { "\($0)" }
        let line = RecordedLogLine(level: event.level, message: "\(event.message)", facility: facility, thread: pthread_self())
        recording.lines.withLock { $0.append(line) }
    }
}

/// Where the recording handler's lines go, shared by the handler and the test.
final class LogRecording: Sendable {
    let lines = Mutex<[RecordedLogLine]>([])

    var logger: Logger {
        Logger(label: "walbridge.kafka.log-queue-test") { _ in RecordingLogHandler(recording: self) }
    }

    /// librdkafka's own lines (they carry its facility), in arrival order.
    var librdkafkaLines: [RecordedLogLine] { lines.withLock { $0.filter { $0.facility != nil } } }
}

/// A TCP port on loopback that refuses connections for as long as this lives:
/// bound, never listening, so a connect to it gets a reset at once.
final class RefusingPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestFailure("bind(): \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("librdkafka's log lines come through the poll queue", .timeLimit(.minutes(1)))
struct LogQueueTests {
    @Test("a producer's connection-refused log line arrives in poll(), on the polling thread")
    func producerLogsOnPollingThread() throws {
        let refusing = try RefusingPort()
        let recording = LogRecording()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: "127.0.0.1:\(refusing.port)",
                properties: ["reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "100"]),
            logger: recording.logger)
        defer { producer.close() }
        let pollingThread = pthread_self()
        let deadline = ContinuousClock.now + .seconds(20)
        var reports: [DeliveryReport] = []
        while !recording.librdkafkaLines.contains(where: { $0.facility == "FAIL" }), ContinuousClock.now < deadline {
            producer.poll(timeoutMilliseconds: 50, into: &reports)
        }
        let lines = recording.librdkafkaLines
        let refused = try #require(lines.first { $0.facility == "FAIL" }, "no FAIL log line from librdkafka within 20 s")
        #expect(refused.message.contains("127.0.0.1:\(refusing.port)"), "the line names the broker: \(refused.message)")
        #expect(refused.level == .warning, "a failed connection attempt is a warning (it is retried)")
        let elsewhere = lines.filter { pthread_equal($0.thread, pollingThread) == 0 }
        #expect(elsewhere.isEmpty, "librdkafka log lines logged off the polling thread: \(elsewhere.map(\.message))")
    }

    @Test("a consumer's connection-refused log line arrives in poll(timeoutMilliseconds:), on the polling thread")
    func consumerLogsOnPollingThread() throws {
        let refusing = try RefusingPort()
        let recording = LogRecording()
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: "127.0.0.1:\(refusing.port)",
                properties: ["reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "100"]),
            logger: recording.logger)
        defer { consumer.close() }
        try consumer.assign(topic: "log-queue-test", partitions: [0])
        let pollingThread = pthread_self()
        let deadline = ContinuousClock.now + .seconds(20)
        while !recording.librdkafkaLines.contains(where: { $0.facility == "FAIL" }), ContinuousClock.now < deadline {
            _ = try consumer.poll(timeoutMilliseconds: 50)
        }
        let lines = recording.librdkafkaLines
        let refused = try #require(lines.first { $0.facility == "FAIL" }, "no FAIL log line from librdkafka within 20 s")
        #expect(refused.message.contains("127.0.0.1:\(refusing.port)"), "the line names the broker: \(refused.message)")
        let elsewhere = lines.filter { pthread_equal($0.thread, pollingThread) == 0 }
        #expect(elsewhere.isEmpty, "librdkafka log lines logged off the polling thread: \(elsewhere.map(\.message))")
    }

    @Test("log.queue set to false in the properties is overridden: logs still come through the queue")
    func logQueueCannotBeTurnedOff() throws {
        let refusing = try RefusingPort()
        let recording = LogRecording()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: "127.0.0.1:\(refusing.port)",
                properties: ["log.queue": "false", "reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "100"]),
            logger: recording.logger)
        defer { producer.close() }
        let pollingThread = pthread_self()
        let deadline = ContinuousClock.now + .seconds(20)
        while !recording.librdkafkaLines.contains(where: { $0.facility == "FAIL" }), ContinuousClock.now < deadline {
            _ = producer.poll(timeoutMilliseconds: 50)
        }
        let lines = recording.librdkafkaLines
        #expect(lines.contains { $0.facility == "FAIL" })
        #expect(lines.allSatisfy { pthread_equal($0.thread, pollingThread) != 0 })
    }
}
