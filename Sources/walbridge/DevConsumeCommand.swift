import ArgumentParser
import EventMapping
import Foundation
import KafkaPublisher

/// `walbridge dev-consume`: print the records of a topic, for demos and debugging.
struct DevConsumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-consume",
        abstract: "Print a topic's records as JSON lines, from the beginning (a development aid).",
        discussion: """
            Each line: {"topic", "partition", "offset", "key", "headers", "value"}; a JSON
            value is embedded as is. Stops after --count records or --timeout seconds of quiet.
            Records it could not read (the broker no longer had them: the test broker keeps
            ~5 MB per partition) are reported on standard error, and the exit status is then 1,
            so a comparison of "last record per key" is never made on a partial log.

            Example:
              walbridge dev-consume --bootstrap-servers 127.0.0.1:9092 --topic auth.users.events --count 3
            """)

    @Option(name: .long, help: "Kafka bootstrap servers.")
    var bootstrapServers: String

    @Option(name: .long, help: "The topic to read.")
    var topic: String

    @Option(name: .long, help: "Stop after this many records (default: never).")
    var count: Int?

    @Option(name: .long, help: "Stop after this many seconds without a record (default: never).")
    var timeout: Double?

    func run() throws {
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrapServers))
            try consumer.assignAllPartitions(topic: topic)
        } catch {
            CommandSupport.fail("cannot consume from \(topic): \(error)", status: 1)
        }
        var seen = 0
        var lastRecord = Date()
        var nextOffset: [Int32: Int64] = [:]
        var skipped: [Int32: Int64] = [:]
        defer {
            if !skipped.isEmpty {
                let parts = skipped.keys.sorted().map { "partition \($0): \(skipped[$0]!)" }.joined(separator: ", ")
                CommandSupport.fail("skipped records the broker no longer had when they were read (\(parts)); the output is not the whole topic: read while producing (the test broker keeps ~5 MB per partition)", status: 1)
            }
        }
        while count.map({ seen < $0 }) ?? true {
            if let timeout, Date().timeIntervalSince(lastRecord) > timeout { break }
            let polled: ConsumedRecord?
            do {
                polled = try consumer.poll(timeoutMilliseconds: 200)
            } catch {
                CommandSupport.fail("cannot consume from \(topic): \(error)", status: 1)
            }
            guard let record = polled else { continue }
            let expected = nextOffset[record.partition] ?? 0
            if record.offset > expected {
                skipped[record.partition, default: 0] += record.offset - expected
                FileHandle.standardError.write(Data("warning: partition \(record.partition): offsets \(expected)–\(record.offset - 1) were gone before they were read\n".utf8))
            }
            nextOffset[record.partition] = record.offset + 1
            seen += 1
            lastRecord = Date()
            CommandSupport.emit(Self.line(for: record))
        }
    }

    static func line(for record: ConsumedRecord) -> String {
        func text(_ bytes: [UInt8]?) -> String {
            guard let bytes else { return "null" }
            return JSONWriter.quoted(String(decoding: bytes, as: UTF8.self))
        }
        let headers = record.headers.map { "\(JSONWriter.quoted($0.name)):\(text($0.value))" }.joined(separator: ",")
        var value = "null"
        if let bytes = record.value {
            let string = String(decoding: bytes, as: UTF8.self)
            value = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil ? string : JSONWriter.quoted(string)
        }
        return "{\"topic\":\(JSONWriter.quoted(record.topic)),\"partition\":\(record.partition),\"offset\":\(record.offset),\"key\":\(text(record.key)),\"headers\":{\(headers)},\"value\":\(value)}"
    }
}
