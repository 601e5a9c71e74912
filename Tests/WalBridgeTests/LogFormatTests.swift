import Configuration
import EventMapping
import Foundation
import Logging
import Synchronization
import Testing
import WalBridge

/// `logging.format: json` writes one JSON object per line (docs/configuration.md, `logging`: `{"ts", "level", "msg", ...metadata}`).
@Suite("Log line formats")
struct LogFormatTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    static func logger(_ format: BridgeConfigurationLogFormat, into sink: Lines) -> Logger {
        Logger(label: "walbridge.test") { label in
            LineLogHandler(label: label, level: .debug, format: format) { sink.append($0) }
        }
    }

    @Test("every JSON line parses on its own, with ts, level, msg and metadata")
    func jsonLinesParse() throws {
        let sink = Lines()
        let logger = Self.logger(.json, into: sink)
        logger.info("connected to Postgres", metadata: ["server": "walbridge@127.0.0.1:5432/auth"])
        logger.warning("a \"quoted\" message\nwith a newline,\ta tab and \u{1} a control character", metadata: [
            "lsn": "0/16B3748", "attempt": "3", "nested": ["a": "1", "b": ["x", "y"]], "unicode": "Ådå 🚀",
        ])
        logger.debug("slot created", metadata: ["msg": "metadata may not replace the message"])
        logger.error("lost the connection")

        let output = sink.all.joined()
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 4, "one line per message: \(output)")
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
            objects.append(object)
            let ts = try #require(object["ts"] as? String)
            #expect((try? Date(ts, strategy: .iso8601)) != nil || ts.hasSuffix("Z"), "ts is RFC 3339: \(ts)")
        }
        #expect(objects.map { $0["level"] as? String } == ["info", "warning", "debug", "error"])
        #expect(objects[0]["msg"] as? String == "connected to Postgres")
        #expect(objects[0]["server"] as? String == "walbridge@127.0.0.1:5432/auth")
        #expect(objects[1]["msg"] as? String == "a \"quoted\" message\nwith a newline,\ta tab and \u{1} a control character")
        #expect(objects[1]["unicode"] as? String == "Ådå 🚀")
        #expect((objects[1]["nested"] as? [String: Any])?["b"] as? [String] == ["x", "y"])
        #expect(objects[2]["msg"] as? String == "slot created")
    }

    @Test("text lines are one line each, with the level and sorted metadata")
    func textLines() {
        let sink = Lines()
        let logger = Self.logger(.text, into: sink)
        logger.info("caught up; streaming", metadata: ["lsn": "0/1", "a": "two words"])
        let line = sink.all.joined()
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        #expect(line.contains(" info "))
        #expect(line.contains("caught up; streaming a=\"two words\" lsn=0/1"))
    }
}

typealias BridgeConfigurationLogFormat = BridgeConfiguration.LogFormat
