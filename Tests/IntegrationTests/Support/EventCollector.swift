import Foundation
import KafkaPublisher

/// One event read back from Kafka, with its envelope parsed.
struct ReceivedEvent {
    var record: ConsumedRecord
    var envelope: [String: Any]

    var key: String? { record.key.map { String(decoding: $0, as: UTF8.self) } }
    var eventType: String? { envelope["eventType"] as? String }
    var eventID: String? { envelope["eventId"] as? String }
    var data: [String: Any]? { envelope["data"] as? [String: Any] }
    var source: [String: Any]? { envelope["source"] as? [String: Any] }
    func header(_ name: String) -> String? {
        record.headers.first { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Reads a topic from the beginning and collects its events.
final class EventCollector {
    private let consumer: KafkaConsumer
    private let bootstrapServers: String
    private let topic: String
    /// Every event read, sentinels (see ``collectAll(timeout:)``) left out.
    private(set) var events: [ReceivedEvent] = []
    /// Sentinel records read so far, by their key.
    private var sentinelsSeen: Set<String> = []
    /// The next offset expected per partition, to tell records skipped by the
    /// consumer (the test broker trims a partition it holds too much of).
    private var nextOffset: [Int32: Int64] = [:]
    /// Offsets skipped, per partition: records this collector never saw.
    private(set) var skipped: [Int32: Int64] = [:]

    init(bootstrapServers: String, topic: String) throws {
        consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrapServers))
        try consumer.assignAllPartitions(topic: topic)
        self.bootstrapServers = bootstrapServers
        self.topic = topic
    }

    /// The header that marks a sentinel record.
    static let sentinelHeader = "walbridge-test-sentinel"

    /// Everything the topic holds, for a count once the bridge has stopped
    /// (or exited): instead of waiting a fixed time for a late record, appends
    /// a sentinel record to every partition of the topic (a producer of the
    /// test's own, so each sentinel lands after every record the bridge wrote
    /// there) and reads until each sentinel has come back. Kafka keeps order
    /// within a partition, so what arrived before them is all there is.
    /// Returns every event read so far, sentinels left out.
    func collectAll(timeout: Duration = .seconds(30)) throws -> [ReceivedEvent] {
        let partitions = try consumer.partitionCount(topic: topic)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrapServers))
        defer { _ = producer.close() }
        let run = UUID().uuidString
        var sentinels: Set<String> = []
        var covered: Set<Int32> = []
        // Keys pick partitions by hash: add keys until each partition has one.
        while covered.count < partitions {
            guard sentinels.count < 64 * Int(partitions) else {
                throw TestFailure("sentinel records reached partitions \(covered.sorted()) of \(partitions) only")
            }
            let key = "sentinel-\(run)-\(sentinels.count)"
            try producer.produce(topic: topic, key: Array(key.utf8), value: Array(#"{"sentinel":true}"#.utf8),
                                 headers: [KafkaHeader(name: Self.sentinelHeader, string: run)], token: UInt64(sentinels.count))
            sentinels.insert(key)
            guard producer.flush(timeoutMilliseconds: 10_000) else { throw TestFailure("a sentinel record was not delivered in 10 s") }
            for report in producer.poll() {
                if let error = report.error { throw TestFailure("a sentinel record failed: \(error)") }
                covered.insert(report.partition)
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !sentinels.isSubset(of: sentinelsSeen) {
            guard clock.now < deadline else { throw TestFailure("the sentinel records did not come back within \(timeout)") }
            guard let record = try consumer.poll(timeoutMilliseconds: 100) else { continue }
            append(try Self.parse(record))
        }
        return events
    }

    /// Collects until there are `count` events or `timeout` passes; returns them all.
    @discardableResult
    func collect(count: Int, timeout: Duration = .seconds(30)) throws -> [ReceivedEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while events.count < count && clock.now < deadline {
            guard let record = try consumer.poll(timeoutMilliseconds: 100) else { continue }
            append(try Self.parse(record))
        }
        return events
    }

    /// Keeps reading for `duration` and returns everything seen (to prove nothing more arrives).
    func drain(for duration: Duration) throws -> [ReceivedEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while clock.now < deadline {
            if let record = try consumer.poll(timeoutMilliseconds: 100) { append(try Self.parse(record)) }
        }
        return events
    }

    private func append(_ event: ReceivedEvent) {
        let partition = event.record.partition
        let expected = nextOffset[partition] ?? 0
        if event.record.offset > expected { skipped[partition, default: 0] += event.record.offset - expected }
        nextOffset[partition] = event.record.offset + 1
        if event.header(Self.sentinelHeader) != nil {
            sentinelsSeen.insert(event.key ?? "")
        } else {
            events.append(event)
        }
    }

    static func parse(_ record: ConsumedRecord) throws -> ReceivedEvent {
        guard let value = record.value else {
            return ReceivedEvent(record: record, envelope: [:])
        }
        guard let envelope = try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else {
            throw TestFailure("event value is not a JSON object: \(String(decoding: value, as: UTF8.self))")
        }
        return ReceivedEvent(record: record, envelope: envelope)
    }
}
