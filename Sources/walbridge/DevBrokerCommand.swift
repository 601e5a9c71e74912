import ArgumentParser
import Foundation
import KafkaPublisher
import KafkaTestBroker

/// `walbridge dev-broker`: a Kafka-protocol test broker for demos and tests.
struct DevBrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run a Kafka-protocol test broker (librdkafka's mock cluster) on loopback until SIGTERM.",
        discussion: """
            Prints the bootstrap address as the first line of standard output, then reads
            fault-injection commands from standard input, one per line:
              down N | up N        take broker N (1-based) down or up
              down all | up all    every broker
              rtt N MS             add MS milliseconds of latency to broker N
              errors API CODE xN   fail the next N requests of Kafka API key API with error CODE
            Not for production: it keeps data in memory, and each partition keeps only
            its most recent ~5 MB of records (about 7,000 WalBridge events): read while
            producing, or a reader that falls behind skips records (`dev-consume` says so).

            Example:
              walbridge dev-broker --brokers 3 --topic auth.users.events:6
            """)

    @Option(name: .long, help: "How many brokers the cluster has.")
    var brokers: Int = 1

    @Option(name: .long, help: "A topic to create, as NAME:PARTITIONS (repeatable).")
    var topic: [String] = []

    func run() throws {
        guard brokers >= 1 else { CommandSupport.fail("--brokers must be at least 1", status: 2) }
        var topics: [(String, Int32)] = []
        for spec in topic {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard let name = parts.first, !name.isEmpty else {
                CommandSupport.fail("--topic '\(spec)' is not NAME or NAME:PARTITIONS", status: 2)
            }
            let partitions = parts.count == 2 ? Int32(parts[1]) : 1
            guard let partitions, partitions > 0 else {
                CommandSupport.fail("--topic '\(spec)': PARTITIONS must be a positive number", status: 2)
            }
            topics.append((name, partitions))
        }
        let finished = DispatchSemaphore(value: 0)
        CommandSupport.handleTerminationSignals { finished.signal() }
        let cluster: TestKafkaCluster
        do {
            cluster = try TestKafkaCluster(brokers: brokers)
            for (name, partitions) in topics {
                try cluster.createTopic(name, partitions: partitions)
            }
        } catch {
            CommandSupport.fail("cannot start the test broker: \(error)", status: 1)
        }
        CommandSupport.emit(cluster.bootstrapServers)
        FileHandle.standardError.write(Data("test broker: each partition keeps only its most recent ~5 MB of records; read while producing\n".utf8))
        let control = Thread {
            while let line = readLine() {
                let reply = DevBrokerControl.apply(line, to: cluster)
                CommandSupport.emit(reply)
            }
        }
        control.start()
        finished.wait()
        withExtendedLifetime(cluster) {}
    }
}

/// Parses and applies one fault-injection command of `dev-broker`.
enum DevBrokerControl {
    static func apply(_ line: String, to cluster: TestKafkaCluster) -> String {
        do {
            return try run(line, on: cluster)
        } catch {
            return "error: \(error)"
        }
    }

    private static func run(_ line: String, on cluster: TestKafkaCluster) throws(TestBrokerError) -> String {
        let words = line.split(separator: " ").map(String.init)
        switch (words.first, words.count) {
        case ("down", 2) where words[1] == "all":
            try cluster.setAllBrokersDown(); return "ok"
        case ("up", 2) where words[1] == "all":
            try cluster.setAllBrokersUp(); return "ok"
        case ("down", 2):
            guard let id = Int32(words[1]) else { return "error: broker id must be a number" }
            try cluster.setBrokerDown(id); return "ok"
        case ("up", 2):
            guard let id = Int32(words[1]) else { return "error: broker id must be a number" }
            try cluster.setBrokerUp(id); return "ok"
        case ("rtt", 3):
            guard let id = Int32(words[1]), let ms = Int32(words[2]) else { return "error: rtt N MS" }
            try cluster.setRoundTripTime(broker: id, milliseconds: ms); return "ok"
        case ("errors", 4):
            guard let api = Int16(words[1]), let code = Int32(words[2]), words[3].hasPrefix("x"),
                  let count = Int(words[3].dropFirst()) else { return "error: errors API CODE xN" }
            cluster.pushRequestErrors(apiKey: .init(rawValue: api), errors: Array(repeating: KafkaError.Code(rawValue: code), count: count)); return "ok"
        case (nil, _):
            return ""
        default:
            return "error: unknown command '\(line)'; use down N|all, up N|all, rtt N MS, errors API CODE xN"
        }
    }
}
