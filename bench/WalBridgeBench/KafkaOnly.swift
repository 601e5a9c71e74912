#if canImport(Glibc)
import Glibc
#endif
import EventMapping
import KafkaPublisher

/// `walbridge-bench produce --bootstrap-servers B --topic T --rate R --seconds S [--property NAME=VALUE ...]`:
/// produces R small records per second for S seconds with WalBridge's
/// producer (its defaults, then the given properties), each carrying
/// `"occurredAt"` = the time it was produced. Run `walbridge-bench latency`
/// on the same topic at the same time to measure the Kafka part of the
/// latency alone (producer batching, test broker, consumer), without Postgres.
struct KafkaOnly {
    let bootstrapServers: String
    let topic: String
    let rate: Double
    let seconds: Double
    let properties: [String: String]

    init(arguments: [String]) {
        bootstrapServers = option("--bootstrap-servers", in: arguments) ?? "127.0.0.1:9092"
        topic = option("--topic", in: arguments) ?? "bench.users"
        rate = option("--rate", in: arguments).flatMap { Double($0) } ?? 5000
        seconds = option("--seconds", in: arguments).flatMap { Double($0) } ?? 10
        properties = propertyOptions(in: arguments)
    }

    func run() throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            bootstrapServers: bootstrapServers, properties: properties))
        producer.prepare(topics: [topic])
        var reports: [DeliveryReport] = []
        let start = monotonicSeconds()
        var sent: UInt64 = 0
        while true {
            let now = monotonicSeconds()
            if now - start >= seconds { break }
            let due = UInt64((now - start) * rate)
            while sent < due {
                var value = JSONWriter(capacity: 64)
                value.raw("{\"occurredAt\":\"")
                value.rfc3339(unixMicros: unixMicros())
                value.raw("\"}")
                try producer.produce(topic: topic, key: Array(String(sent).utf8), value: value.bytes, token: sent)
                sent += 1
            }
            reports.removeAll(keepingCapacity: true)
            producer.poll(timeoutMilliseconds: 0, into: &reports)
            usleep(100)
        }
        _ = producer.flush(timeoutMilliseconds: 5000)
        _ = producer.close()
        print("{\"produced\":\(sent)}")
    }
}
