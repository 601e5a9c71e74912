import EventMapping
import Foundation
import Logging

/// What `GET /status` on the metrics listener answers: readiness with its
/// reasons, and the last problem the process logged.
///
/// `{"ready": bool, "reasons": ["…"], "lastProblem": {"at", "level", "message", "error"} | null}`
public struct ProcessStatus: Sendable, Hashable {
    public var ready: Bool
    /// Why it is not ready, as `/readyz` lists them; empty when ready.
    public var reasons: [String]
    public var lastProblem: LoggedProblem?

    public init(ready: Bool, reasons: [String], lastProblem: LoggedProblem?) {
        self.ready = ready
        self.reasons = reasons
        self.lastProblem = lastProblem
    }

    public init(_ readiness: Readiness, lastProblem: LoggedProblem?) {
        self.init(ready: readiness.isReady, reasons: readiness.reasons, lastProblem: lastProblem)
    }

    /// The `/status` body (one JSON object and a newline).
    public var json: String {
        "{\"ready\": \(ready), \"reasons\": [" + reasons.map(JSONWriter.quoted).joined(separator: ", ") + "], "
            + "\"lastProblem\": \(lastProblem?.json ?? "null")}\n"
    }

    /// Parses a `/status` body.
    /// - Throws: `ProcessStatusError` naming what is missing or malformed.
    public init(json text: String) throws(ProcessStatusError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw ProcessStatusError("/status did not answer one JSON object: \(text.prefix(120))")
        }
        guard let ready = object["ready"] as? Bool, let reasons = object["reasons"] as? [String] else {
            throw ProcessStatusError("/status lacks \"ready\" or \"reasons\": \(text.prefix(120))")
        }
        var problem: LoggedProblem?
        switch object["lastProblem"] {
        case nil, is NSNull:
            problem = nil
        case let fields as [String: Any]:
            guard let at = (fields["at"] as? String).flatMap(LoggedProblem.date(rfc3339:)),
                  let level = (fields["level"] as? String).flatMap(Logger.Level.init(rawValue:)),
                  let message = fields["message"] as? String else {
                throw ProcessStatusError("/status has a malformed \"lastProblem\": \(text.prefix(200))")
            }
            problem = LoggedProblem(at: at, level: level, message: message, error: fields["error"] as? String)
        default:
            throw ProcessStatusError("/status has a malformed \"lastProblem\": \(text.prefix(200))")
        }
        self.init(ready: ready, reasons: reasons, lastProblem: problem)
    }
}

/// A `/status` body that could not be read.
public struct ProcessStatusError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
