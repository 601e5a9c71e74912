import Configuration
import Foundation
import HTTPTestClient
import Logging
import Synchronization
import Testing
@testable import WalBridge

/// The last-problem log decorator and `GET /status` (issue 16, item 4).
@Suite("Last problem and /status")
struct LastProblemTests {
    /// Lines a `LineLogHandler` wrote, for checking that the decorator passes everything on.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    static let fixedTime = Date(timeIntervalSince1970: 1_800_000_000.25)

    static func logger(_ recorder: LastProblemRecorder, _ lines: Lines, level: Logger.Level = .info) -> Logger {
        Logger(label: "test") { label in
            LastProblemLogHandler(
                wrapping: LineLogHandler(label: label, level: level, format: .text, output: { lines.append($0) }),
                recorder: recorder, now: { LastProblemTests.fixedTime })
        }
    }

    @Test("warning, error and critical lines are recorded with their error metadata; info and debug are not; every line still goes out")
    func records() {
        let recorder = LastProblemRecorder()
        let lines = Lines()
        var logger = Self.logger(recorder, lines)
        logger.info("streaming")
        logger.debug("below the level")
        #expect(recorder.current == nil)
        logger.warning("all brokers are down", metadata: ["kafka.error": "_ALL_BROKERS_DOWN"])
        #expect(recorder.current == LoggedProblem(at: Self.fixedTime, level: .warning, message: "all brokers are down", error: nil))
        logger.error("slot monitor query failed", metadata: ["slot": "s", "error": "connection refused"])
        #expect(recorder.current == LoggedProblem(at: Self.fixedTime, level: .error, message: "slot monitor query failed", error: "connection refused"))
        logger.info("recovered")
        #expect(recorder.current?.message == "slot monitor query failed", "an info line does not replace the last problem")

        // Metadata set on the logger reaches the wrapped handler, and its `error` counts too.
        logger[metadataKey: "error"] = "from the logger"
        logger.critical("giving up")
        #expect(recorder.current == LoggedProblem(at: Self.fixedTime, level: .critical, message: "giving up", error: "from the logger"))
        #expect(lines.all.count == 5, "every line but the debug one was written: \(lines.all)")
        #expect(lines.all.last?.contains("giving up error=\"from the logger\"") == true, "\(lines.all)")

        // The wrapped handler's level is the decorator's: raising it hides warnings from both.
        logger.logLevel = .error
        #expect(logger.logLevel == .error)
        logger.warning("not logged at level error")
        #expect(recorder.current?.message == "giving up")
        #expect(lines.all.count == 5)
    }

    @Test("the record is what the line said: no other metadata (a password in another key stays out)")
    func onlyTheLine() throws {
        let recorder = LastProblemRecorder()
        let lines = Lines()
        let logger = Self.logger(recorder, lines)
        logger.warning("reconnecting", metadata: ["url": "postgres://walbridge:***@db/auth", "other": "s3cret-not-shown"])
        let problem = try #require(recorder.current)
        #expect(!problem.json.contains("s3cret"))
        #expect(!problem.json.contains("url"))
        #expect(problem.json == #"{"at": "2027-01-15T08:00:00.250Z", "level": "warning", "message": "reconnecting", "error": null}"#)
    }

    @Test("ProcessStatus: its JSON reads back, with and without a last problem; a malformed body is a clear error")
    func processStatusJSON() throws {
        let problem = LoggedProblem(at: Self.fixedTime, level: .error, message: "a \"quoted\"\nline", error: "boom")
        for status in [
            ProcessStatus(ready: true, reasons: [], lastProblem: nil),
            ProcessStatus(ready: false, reasons: ["not connected to Postgres (reconnecting)", "lag 400s is above the bound"], lastProblem: problem),
        ] {
            let parsed = try ProcessStatus(json: status.json)
            #expect(parsed == status)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(status.json.utf8)) as? [String: Any])
            #expect(Set(object.keys) == ["ready", "reasons", "lastProblem"])
        }
        #expect(ProcessStatus(ready: true, reasons: [], lastProblem: nil).json == "{\"ready\": true, \"reasons\": [], \"lastProblem\": null}\n")
        #expect(throws: ProcessStatusError.self) { try ProcessStatus(json: "ready\n") }
        #expect(throws: ProcessStatusError.self) { try ProcessStatus(json: #"{"ready": true}"#) }
        #expect(throws: ProcessStatusError.self) { try ProcessStatus(json: #"{"ready": true, "reasons": [], "lastProblem": {"at": "yesterday"}}"#) }
    }

    @Test("GET /status answers readiness with its reasons and the process's last problem")
    func statusRoute() throws {
        let handle = try Observability.start(
            configuration: ObservabilityUnitTests.configuration(), logger: Logger(label: "test"),
            options: ObservabilityOptions(pollInterval: .milliseconds(100), listen: "127.0.0.1:0"))
        defer { handle.stop() }
        let port = try #require(handle.listenPort)
        let marker = "status route test \(UUID().uuidString)"
        let logger = Logger(label: "test") { label in
            LastProblemLogHandler(wrapping: LineLogHandler(label: label, level: .info, format: .text, output: { _ in }))
        }
        logger.warning("\(marker)", metadata: ["error": "the cause"])

        let response = try httpGet(port: port, path: "/status")
        #expect(response.status == 200)
        let status = try ProcessStatus(json: response.body)
        // Postgres on port 1 cannot be reached: not ready, for the reasons /readyz gives.
        #expect(!status.ready)
        #expect(!status.reasons.isEmpty && status.reasons.allSatisfy { !$0.isEmpty }, "\(status.reasons)")
        #expect(status.lastProblem?.message == marker)
        #expect(status.lastProblem?.error == "the cause")
        #expect(status.lastProblem?.level == .warning)
        #expect(!response.body.contains("s3cret"), "no password in /status: \(response.body)")
        #expect(try httpGet(port: port, path: "/nope").body.contains("/status"), "the 404 text names /status")
    }
}
