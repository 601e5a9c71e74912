#if canImport(Glibc)
import HotPathFixture
import Glibc
#endif

/// `walbridge-bench`: WalBridge's benchmark harness (see bench/README.md).
///
///   walbridge-bench hotpath [--rows N] [--repeat K]   decode + assemble + map on fixed input
///   walbridge-bench latency --bootstrap-servers B --topic T --seconds S [--property NAME=VALUE ...]   commit-to-consume latency
///   walbridge-bench produce --bootstrap-servers B --topic T --rate R --seconds S [--property NAME=VALUE ...]   records for `latency`, without Postgres
let arguments = Array(CommandLine.arguments.dropFirst())

/// Every `--property NAME=VALUE` in `arguments`, as librdkafka properties.
func propertyOptions(in arguments: [String]) -> [String: String] {
    var properties: [String: String] = [:]
    for (index, argument) in arguments.enumerated() where argument == "--property" && index + 1 < arguments.count {
        let pair = arguments[index + 1].split(separator: "=", maxSplits: 1).map(String.init)
        if pair.count == 2 { properties[pair[0]] = pair[1] }
    }
    return properties
}

func option(_ name: String, in arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

do {
    switch arguments.first {
    case "hotpath":
        let rows = option("--rows", in: arguments).flatMap { Int($0) } ?? 10_000
        let repeats = option("--repeat", in: arguments).flatMap { Int($0) } ?? 10
        let hotPath = try HotPath(rows: rows)
        var result = (events: 0, bytes: 0)
        let allocations = try AllocationCounter.count { result = try hotPath.run() }
        let start = monotonicSeconds()
        for _ in 0..<repeats { result = try hotPath.run() }
        let seconds = monotonicSeconds() - start
        let perEvent = seconds / Double(result.events * repeats)
        print("hotpath: \(result.events) events of \(result.bytes / max(result.events, 1)) bytes, "
            + "\(Int(perEvent * 1e9)) ns/event (\(Int(1 / perEvent)) events/s on one core), "
            + "\(Double(allocations) / Double(result.events)) mallocs/event")
    case "latency":
        try Suite(arguments: Array(arguments.dropFirst())).run()
    case "produce":
        try KafkaOnly(arguments: Array(arguments.dropFirst())).run()
    default:
        print("usage: walbridge-bench hotpath [--rows N] [--repeat K] | latency --bootstrap-servers B --topic T --seconds S [--property N=V ...] | produce --bootstrap-servers B --topic T --rate R --seconds S [--property N=V ...]")
        exit(2)
    }
} catch {
    print("walbridge-bench: \(error)")
    exit(1)
}
