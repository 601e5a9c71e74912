import EventMapping
import Foundation
import Logging
import Synchronization

/// The last warning, error or critical line the process logged: what `GET /status`
/// answers as `lastProblem` and `walbridge status --watch` shows.
///
/// It holds only what the log line held (its message and its `error` metadata
/// value), and log lines are free of passwords and excluded columns, so this is too.
public struct LoggedProblem: Sendable, Hashable {
    /// When it was logged.
    public var at: Date
    public var level: Logger.Level
    public var message: String
    /// The line's `error` metadata value, if it had one.
    public var error: String?

    public init(at: Date, level: Logger.Level, message: String, error: String?) {
        self.at = at
        self.level = level
        self.message = message
        self.error = error
    }

    /// `{"at": "2026-12-02T15:20:01.250Z", "level": "warning", "message": "…", "error": "…" | null}`.
    public var json: String {
        "{\"at\": \(JSONWriter.quoted(Self.timestamp(at))), \"level\": \(JSONWriter.quoted(level.rawValue)), "
            + "\"message\": \(JSONWriter.quoted(message)), \"error\": \(error.map(JSONWriter.quoted) ?? "null")}"
    }

    /// RFC 3339 in UTC with milliseconds, as the log lines write their time.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Parses what `timestamp` wrote (with or without fractional seconds).
    public static func date(rfc3339 text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

/// One process-wide slot for the last problem logged, guarded by a `Mutex`.
/// `LastProblemLogHandler` writes it; the metrics listener's `/status` reads it.
public final class LastProblemRecorder: Sendable {
    /// The process's recorder, which `walbridge run`'s logging writes into.
    public static let shared = LastProblemRecorder()

    private let slot = Mutex<LoggedProblem?>(nil)

    /// A recorder of its own (tests); the process uses `shared`.
    public init() {}

    /// The last problem recorded, nil while there was none.
    public var current: LoggedProblem? { slot.withLock { $0 } }

    /// Replaces the last problem with `problem`.
    public func record(_ problem: LoggedProblem) {
        slot.withLock { $0 = problem }
    }
}

/// A `LogHandler` decorator: passes every line to `wrapped` and also records
/// each warning, error or critical line in a `LastProblemRecorder` (time,
/// level, message and the `error` metadata value). It adds no metadata of its own.
public struct LastProblemLogHandler: LogHandler {
    private var wrapped: any LogHandler
    private let recorder: LastProblemRecorder
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - recorder: where problems go; the process's `shared` one by default.
    ///   - now: the clock (tests pass a fixed one).
    public init(wrapping wrapped: any LogHandler, recorder: LastProblemRecorder = .shared, now: @escaping @Sendable () -> Date = { Date() }) {
        self.wrapped = wrapped
        self.recorder = recorder
        self.now = now
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        if event.level >= .warning {
            // The line's own `error` first, then the provider's, then the handler's (as the line merges them).
            let error = event.metadata?["error"] ?? wrapped.metadataProvider?.get()["error"] ?? wrapped.metadata["error"]
            recorder.record(LoggedProblem(at: now(), level: event.level, message: event.message.description, error: error?.description))
        }
        wrapped.log(event: event)
    }
}
