// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "WalBridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "walbridge", targets: ["walbridge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C at the edges: module maps and a shim header, nothing else.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),

        .target(
            name: "PostgresReplication",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KafkaPublisher",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test and demo support only: librdkafka's mock cluster, for the tests
        // and `walbridge dev-broker`. Never used by the bridge itself.
        .target(
            name: "KafkaTestBroker",
            dependencies: [
                "CRdKafka",
                "KafkaPublisher",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The whole app's configuration: the YAML file, `${ENV}`/`${file:}`
        // substitution, the mappings as written. No runtime behaviour.
        .target(
            name: "Configuration",
            dependencies: [
                "PostgresReplication",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "EventMapping",
            dependencies: [
                "PostgresReplication",
                "Configuration",
            ]
        ),
        .target(
            name: "WalBridge",
            dependencies: [
                "PostgresReplication",
                "KafkaPublisher",
                "Configuration",
                "EventMapping",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "walbridge",
            dependencies: [
                "WalBridge",
                "PostgresReplication",
                "KafkaPublisher",
                "KafkaTestBroker",
                "Configuration",
                "EventMapping",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks (bench/README.md): a release-build harness that measures and prints.
        .executableTarget(
            name: "walbridge-bench",
            dependencies: ["PostgresReplication", "EventMapping", "KafkaPublisher", "HotPathFixture"],
            path: "bench/WalBridgeBench",
            linkerSettings: allocationCounterLinkerSettings
        ),
        // Test and bench support only: counts allocator calls per thread by
        // defining malloc/calloc/realloc/free (see its header). Never a
        // dependency of walbridge itself.
        .target(name: "CAllocationCounter", path: "bench/CAllocationCounter"),
        // Test and bench support only: the hot path's fixed input and the
        // allocation counter's Swift face, shared by walbridge-bench and the budget tests.
        .target(
            name: "HotPathFixture", dependencies: ["Configuration", "EventMapping", "PostgresReplication", "CAllocationCounter"],
            path: "bench/HotPathFixture"
        ),

        .testTarget(name: "PostgresReplicationTests", dependencies: ["PostgresReplication", "SeededRandom"]),
        .testTarget(name: "KafkaPublisherTests", dependencies: ["KafkaPublisher", "KafkaTestBroker"]),
        .testTarget(
            name: "EventMappingTests", dependencies: ["Configuration", "EventMapping", "PostgresReplication", "HotPathFixture", "SeededRandom"],
            linkerSettings: allocationCounterLinkerSettings
        ),
        .testTarget(
            name: "WalBridgeTests",
            dependencies: ["WalBridge", "Configuration", "EventMapping", "HTTPTestClient", "SeededRandom", .product(name: "Yams", package: "Yams")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["WalBridge", "PostgresReplication", "KafkaPublisher", "KafkaTestBroker", "Configuration", "EventMapping", "walbridge", "HTTPTestClient", "FaultProxy", "SeededRandom",
                           .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures"]
        ),
        // Test support only: the tiny HTTP client the metrics tests of both test targets use.
        .target(name: "HTTPTestClient", path: "Tests/HTTPTestClient"),
        // Test and soak support only: the seeded generator (SplitMix64) of generated histories and the soak's schedule.
        .target(name: "SeededRandom", path: "Tests/SeededRandom"),
    ],
    swiftLanguageModes: [.v6]
)

/// The allocation counter (`CAllocationCounter`) defines the allocator's entry
/// points in the program that links it: export them, so every shared
/// library's calls reach them too.
var allocationCounterLinkerSettings: [LinkerSetting] {
    [.unsafeFlags(["malloc", "calloc", "realloc", "free"].flatMap { ["-Xlinker", "--export-dynamic-symbol=\($0)"] })]
}

// Fuzz targets (docs/fuzzing.md): built only by scripts/fuzz.sh, which sets
// WALBRIDGE_FUZZ=1 and uses its own scratch path (.build-fuzz) with
// `--sanitize=fuzzer --sanitize=address`. A normal `swift build` or
// `swift test` never sees them.
if Context.environment["WALBRIDGE_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("pgoutput", ["PostgresReplication"]),
        ("values", ["PostgresReplication"]),
        ("config", ["Configuration"]),
        ("checkpoint", ["WalBridge"]),
        ("http", ["WalBridge"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: "fuzz-\(target.name)", dependencies: target.dependencies, path: "fuzz/Targets/\(target.name)",
            // The entry point is libFuzzer's main, which calls LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ))
        package.products.append(.executable(name: "fuzz-\(target.name)", targets: ["fuzz-\(target.name)"]))
    }
}

// The randomised soak (docs/delivery.md#the-randomised-soak): its fault proxy,
// the release-build harness that scripts/soak.sh runs, and the proxy's tests.
package.targets.append(contentsOf: [
    // Test and soak support only: a loopback TCP proxy with switchable faults.
    .target(name: "FaultProxy", path: "soak/FaultProxy"),
    .executableTarget(
        name: "walbridge-soak",
        dependencies: ["FaultProxy", "SeededRandom", "PostgresReplication", "KafkaPublisher", .product(name: "Logging", package: "swift-log")],
        path: "soak/WalBridgeSoak"
    ),
    .testTarget(name: "FaultProxyTests", dependencies: ["FaultProxy"]),
])
