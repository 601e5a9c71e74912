#if canImport(Glibc)
import Glibc
#endif
import KafkaPublisher

/// `walbridge-bench latency --bootstrap-servers B --topic T --seconds S`:
/// consumes the topic for S seconds and, for every event committed after it started,
/// takes `now - occurredAt` (the commit time Postgres stamped, microseconds;
/// both clocks are this machine's). Prints one JSON object:
/// `{"count", "p50Ms", "p99Ms", "maxMs"}`.
struct Suite {
    let bootstrapServers: String
    let topic: String
    let seconds: Double

    init(arguments: [String]) throws {
        bootstrapServers = option("--bootstrap-servers", in: arguments) ?? "127.0.0.1:9092"
        topic = option("--topic", in: arguments) ?? "bench.users"
        seconds = option("--seconds", in: arguments).flatMap { Double($0) } ?? 10
    }

    func run() throws {
        // Fetch as soon as data is there: the consumer must not add latency of its own.
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: bootstrapServers,
            properties: ["fetch.wait.max.ms": "1", "fetch.error.backoff.ms": "1", "auto.offset.reset": "latest"]))
        try consumer.assignAllPartitions(topic: topic)
        var latencies: [Double] = []
        // assignAllPartitions reads from the beginning: skip what was committed before we started.
        let startedAt = unixMicros()
        let deadline = monotonicSeconds() + seconds
        while monotonicSeconds() < deadline {
            guard let record = try consumer.poll(timeoutMilliseconds: 50), let value = record.value else { continue }
            let now = unixMicros()
            if let committed = Self.occurredAtMicros(value), committed >= startedAt {
                latencies.append(Double(now - committed) / 1000)
            }
        }
        consumer.close()
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        print("{\"count\":\(latencies.count),\"p50Ms\":\(percentile(0.5)),\"p99Ms\":\(percentile(0.99)),\"maxMs\":\(latencies.last ?? 0)}")
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
