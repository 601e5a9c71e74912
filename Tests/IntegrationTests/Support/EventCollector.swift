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
            events.append(try Self.parse(record))
        }
        return events
    }

    /// Keeps reading for `duration` and returns everything seen (to prove nothing more arrives).
    func drain(for duration: Duration) throws -> [ReceivedEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while clock.now < deadline {
            if let record = try consumer.poll(timeoutMilliseconds: 100) { events.append(try Self.parse(record)) }
        }
        return events
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
