#if canImport(Glibc)
import Glibc
#endif
import KafkaPublisher

/// `walbridge-bench latency --bootstrap-servers B --topic T --seconds S`:
/// consumes the topic for S seconds and, for every event committed after it started,
/// takes `now - occurredAt` (the commit time Postgres stamped, microseconds;
/// both clocks are this machine's). Prints one JSON object:
/// `{"count", "p50Ms", "p99Ms", "maxMs", "produceP50Ms", "produceP99Ms",
/// "produceMaxMs", "deliverP50Ms", "deliverP99Ms", "deliverMaxMs"}`: the
/// whole latency, then its two stages split at the record's Kafka timestamp
/// (CreateTime, which librdkafka stamps when WalBridge produces the record;
/// milliseconds): commit → produce (walsender and WalBridge) and produce →
/// consume (librdkafka's batching, the broker, the consumer).
struct Suite {
    let bootstrapServers: String
    let topic: String
    let seconds: Double
    /// Extra consumer properties (`--property NAME=VALUE`, repeatable), applied last.
    let properties: [String: String]

    init(arguments: [String]) throws {
        bootstrapServers = option("--bootstrap-servers", in: arguments) ?? "127.0.0.1:9092"
        topic = option("--topic", in: arguments) ?? "bench.users"
        seconds = option("--seconds", in: arguments).flatMap { Double($0) } ?? 10
        properties = propertyOptions(in: arguments)
    }

    func run() throws {
        // Fetch as soon as data is there: the consumer must not add latency of its own.
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: bootstrapServers,
            properties: ["fetch.wait.max.ms": "1", "fetch.error.backoff.ms": "1", "auto.offset.reset": "latest"]
                .merging(properties) { $1 }))
        try consumer.assignAllPartitions(topic: topic)
        var latencies: [Double] = []
        var toProduce: [Double] = []
        var toConsume: [Double] = []
        // assignAllPartitions reads from the beginning: skip what was committed before we started.
        let startedAt = unixMicros()
        let deadline = monotonicSeconds() + seconds
        while monotonicSeconds() < deadline {
            guard let record = try consumer.poll(timeoutMilliseconds: 50), let value = record.value else { continue }
            let now = unixMicros()
            if let committed = Self.occurredAtMicros(value), committed >= startedAt {
                latencies.append(Double(now - committed) / 1000)
                if let produced = record.timestampMilliseconds {
                    toProduce.append(Double(produced * 1000 - committed) / 1000)
                    toConsume.append(Double(now - produced * 1000) / 1000)
                }
            }
        }
        consumer.close()
        func percentile(_ sorted: [Double], _ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        func fields(_ values: [Double], _ prefix: String) -> String {
            let sorted = values.sorted()
            let names = prefix.isEmpty ? ("p50Ms", "p99Ms", "maxMs") : ("\(prefix)P50Ms", "\(prefix)P99Ms", "\(prefix)MaxMs")
            return "\"\(names.0)\":\(percentile(sorted, 0.5)),\"\(names.1)\":\(percentile(sorted, 0.99)),\"\(names.2)\":\(sorted.last ?? 0)"
        }
        print("{\"count\":\(latencies.count),\(fields(latencies, "")),\(fields(toProduce, "produce")),\(fields(toConsume, "deliver"))}")
    }

    /// `"occurredAt":"YYYY-MM-DDTHH:MM:SS.ffffffZ"` → Unix microseconds.
    static func occurredAtMicros(_ value: [UInt8]) -> Int64? {
        let marker = Array("\"occurredAt\":\"".utf8)
        guard let start = value.indices.first(where: { value[$0...].starts(with: marker) }) else { return nil }
        let text = value[(start + marker.count)...].prefix(26)
        guard text.count == 26 else { return nil }
        func number(_ offset: Int, _ length: Int) -> Int64 {
            text.dropFirst(offset).prefix(length).reduce(0) { $0 * 10 + Int64($1 &- UInt8(ascii: "0")) }
        }
        var tm = tm()
        tm.tm_year = Int32(number(0, 4)) - 1900
        tm.tm_mon = Int32(number(5, 2)) - 1
        tm.tm_mday = Int32(number(8, 2))
        tm.tm_hour = Int32(number(11, 2))
        tm.tm_min = Int32(number(14, 2))
        tm.tm_sec = Int32(number(17, 2))
        return Int64(timegm(&tm)) * 1_000_000 + number(20, 6)
    }
}

func unixMicros() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
}
