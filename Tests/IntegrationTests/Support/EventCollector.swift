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
    private(set) var events: [ReceivedEvent] = []
    /// The next offset expected per partition, to tell records skipped by the
    /// consumer (the test broker trims a partition it holds too much of).
    private var nextOffset: [Int32: Int64] = [:]
    /// Offsets skipped, per partition: records this collector never saw.
    private(set) var skipped: [Int32: Int64] = [:]

    init(bootstrapServers: String, topic: String) throws {
        consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrapServers))
        try consumer.assignAllPartitions(topic: topic)
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
        events.append(event)
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
