import Configuration
import Foundation
import Logging
import EventMapping

/// A swift-log handler that writes one line per message to standard error, as
/// text (`2026-11-23T05:12:00.123Z info  message key=value`) or as one JSON
/// object (`{"ts": "…", "level": "info", "msg": "…", …metadata}`).
///
/// Writes go through one `FileHandle` write per line, which the kernel keeps whole.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: BridgeConfiguration.LogFormat
    private let output: @Sendable (String) -> Void

    /// - Parameters:
    ///   - output: where each finished line (with its `\n`) goes; standard error by default.
    public init(
        label: String, level: Logger.Level, format: BridgeConfiguration.LogFormat,
        output: @escaping @Sendable (String) -> Void = LineLogHandler.standardError
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.output = output
    }

    /// Writes a line to standard error in one `write`.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        let timestamp = Self.timestamp()
        let line: String
        switch format {
        case .text:
            var text = "\(timestamp) \(event.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(event.message)"
            for key in merged.keys.sorted() {
                text += " \(key)=\(Self.textValue(merged[key]!))"
            }
            line = text + "\n"
        case .json:
            var text = "{\"ts\":\(Self.quoted(timestamp)),\"level\":\(Self.quoted(event.level.rawValue)),\"msg\":\(Self.quoted(event.message.description)),\"logger\":\(Self.quoted(label))"
            for key in merged.keys.sorted() where !["ts", "level", "msg", "logger"].contains(key) {
                text += ",\(Self.quoted(key)):\(Self.jsonValue(merged[key]!))"
            }
            line = text + "}\n"
        }
        output(line)
    }

    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var time = tm()
        var seconds = spec.tv_sec
        gmtime_r(&seconds, &time)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(time.tm_year) + 1900, Int(time.tm_mon) + 1,
            Int(time.tm_mday), Int(time.tm_hour), Int(time.tm_min), Int(time.tm_sec), Int(spec.tv_nsec / 1_000_000))
    }

    private static func textValue(_ value: Logger.Metadata.Value) -> String {
        let text = value.description
        return text.contains(where: { $0 == " " || $0 == "\"" }) ? quoted(text) : text
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .stringConvertible(let convertible): return quoted(convertible.description)
        case .array(let items): return "[" + items.map(jsonValue).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            return "{" + dictionary.keys.sorted().map { quoted($0) + ":" + jsonValue(dictionary[$0]!) }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ text: String) -> String { JSONWriter.quoted(text) }
}
