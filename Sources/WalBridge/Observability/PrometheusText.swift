/// One sample line of the Prometheus text exposition format:
/// `name{label="value",…} value [timestamp]`.
public struct PrometheusSample: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    /// The value; NaN, +Inf and -Inf included.
    public var value: Double
    /// Milliseconds since the Unix epoch, when the line had one.
    public var timestampMilliseconds: Int64?

    public init(name: String, labels: [String: String] = [:], value: Double, timestampMilliseconds: Int64? = nil) {
        self.name = name
        self.labels = labels
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
    }
}

/// A parsed `/metrics` body (the text exposition format, version 0.0.4): its
/// samples in order, and the `# TYPE` and `# HELP` of each family. Histograms
/// and summaries stay as their `_bucket`, `_sum` and `_count` (or quantile)
/// sample lines. Pure: no I/O.
public struct PrometheusExposition: Sendable {
    public var samples: [PrometheusSample]
    /// `# TYPE` per family name: counter, gauge, histogram, summary or untyped.
    public var types: [String: String]
    /// `# HELP` per family name, unescaped.
    public var help: [String: String]

    static let knownTypes: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]

    /// Parses `text`.
    /// - Throws: `PrometheusParseError` with the line number and what is wrong there.
    public init(parsing text: String) throws(PrometheusParseError) {
        samples = []
        types = [:]
        help = [:]
        var number = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var scanner = Scanner(bytes: Array(line), line: number)
            scanner.skipBlanks()
            if scanner.atEnd { continue }
            if scanner.peek == UInt8(ascii: "#") {
                try comment(&scanner)
            } else {
                samples.append(try Self.sample(&scanner))
            }
        }
    }

    /// The value of the series `name` whose labels are exactly `labels`, or nil.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every sample named `name`, whatever its labels, in order.
    public func samples(named name: String) -> [PrometheusSample] {
        samples.filter { $0.name == name }
    }

    /// The sum over every series named `name`; nil when there is none.
    public func total(_ name: String) -> Double? {
        let matching = samples(named: name)
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    private mutating func comment(_ scanner: inout Scanner) throws(PrometheusParseError) {
        scanner.index += 1
        scanner.skipBlanks()
        let keyword = scanner.token()
        guard keyword == "HELP" || keyword == "TYPE" else { return }  // any other comment
        scanner.skipBlanks()
        guard let name = scanner.metricName() else { throw scanner.error("# \(keyword) needs a metric name") }
        if keyword == "TYPE" {
            scanner.skipBlanks()
            let type = scanner.token()
            scanner.skipBlanks()
            guard Self.knownTypes.contains(type), scanner.atEnd else {
                throw scanner.error("# TYPE \(name): '\(type)' is not counter, gauge, histogram, summary or untyped")
            }
            guard types[name] == nil else { throw scanner.error("a second # TYPE for \(name)") }
            types[name] = type
        } else {
            if !scanner.atEnd, !scanner.isBlank(scanner.peek) { throw scanner.error("# HELP \(name): a blank must follow the name") }
            scanner.skipBlanks()
            help[name] = try scanner.escaped(until: nil, allowQuote: true)
        }
    }

    private static func sample(_ scanner: inout Scanner) throws(PrometheusParseError) -> PrometheusSample {
        guard let name = scanner.metricName() else { throw scanner.error("a sample line starts with a metric name") }
        var labels: [String: String] = [:]
        scanner.skipBlanks()
        if !scanner.atEnd, scanner.peek == UInt8(ascii: "{") {
            scanner.index += 1
            while true {
                scanner.skipBlanks()
                if scanner.take(UInt8(ascii: "}")) { break }
                guard let label = scanner.labelName() else { throw scanner.error("\(name): a label name or '}' expected") }
                scanner.skipBlanks()
                guard scanner.take(UInt8(ascii: "=")) else { throw scanner.error("\(name): '=' expected after label \(label)") }
                scanner.skipBlanks()
                guard scanner.take(UInt8(ascii: "\"")) else { throw scanner.error("\(name): label \(label)'s value must be quoted") }
                let value = try scanner.escaped(until: UInt8(ascii: "\""), allowQuote: false)
                guard labels.updateValue(value, forKey: label) == nil else { throw scanner.error("\(name): label \(label) appears twice") }
                scanner.skipBlanks()
                if scanner.take(UInt8(ascii: ",")) { continue }
                guard scanner.take(UInt8(ascii: "}")) else { throw scanner.error("\(name): ',' or '}' expected after label \(label)") }
                break
            }
            scanner.skipBlanks()
        }
        let valueText = scanner.token()
        guard let value = Self.double(valueText) else {
            throw scanner.error(valueText.isEmpty ? "\(name): the value is missing" : "\(name): '\(valueText)' is not a number")
        }
        scanner.skipBlanks()
        var timestamp: Int64?
        if !scanner.atEnd {
            let text = scanner.token()
            guard let milliseconds = Int64(text) else { throw scanner.error("\(name): '\(text)' is not a timestamp in milliseconds") }
            timestamp = milliseconds
            scanner.skipBlanks()
            guard scanner.atEnd else { throw scanner.error("\(name): unexpected text after the timestamp") }
        }
        return PrometheusSample(name: name, labels: labels, value: value, timestampMilliseconds: timestamp)
    }

    /// A float as the format writes it: decimal or exponent notation, `NaN`, `+Inf`, `-Inf`.
    static func double(_ text: String) -> Double? {
        switch text.lowercased() {
        case "nan": return .nan
        case "+inf", "inf": return .infinity
        case "-inf": return -.infinity
        default:
            // Swift also reads hexadecimal and "infinity"; the format has neither.
            guard !text.isEmpty, text.utf8.allSatisfy({ Scanner.isDecimalFloatByte($0) }) else { return nil }
            return Double(text)
        }
    }
}

/// A `/metrics` body that is not the text exposition format.
public struct PrometheusParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// 1-based line number.
    public var line: Int
    public var reason: String
    public var description: String { "metrics line \(line): \(reason)" }
}

/// Reads one line's bytes.
private struct Scanner {
    let bytes: [UInt8]
    let line: Int
    var index = 0

    init(bytes: [UInt8], line: Int) {
        self.bytes = bytes
        self.line = line
    }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8 { bytes[index] }

    func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }

    mutating func skipBlanks() {
        while !atEnd, isBlank(peek) { index += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard !atEnd, peek == byte else { return false }
        index += 1
        return true
    }

    /// Everything up to the next blank (or the end).
    mutating func token() -> String {
        let start = index
        while !atEnd, !isBlank(peek) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, or nil (nothing consumed).
    mutating func metricName() -> String? { identifier(colons: true) }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, or nil (nothing consumed).
    mutating func labelName() -> String? { identifier(colons: false) }

    private mutating func identifier(colons: Bool) -> String? {
        let start = index
        while !atEnd {
            let byte = peek
            let letter = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || byte == UInt8(ascii: "_") || (colons && byte == UInt8(ascii: ":"))
            let digit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard letter || (digit && index > start) else { break }
            index += 1
        }
        return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    /// Reads up to `terminator` (consumed; nil: the end of the line), undoing
    /// the format's escapes: `\\`, `\n`, and in label values `\"`.
    mutating func escaped(until terminator: UInt8?, allowQuote: Bool) throws(PrometheusParseError) -> String {
        var out: [UInt8] = []
        while true {
            guard !atEnd else {
                if terminator == nil { break }
                throw error("a label value is not closed with '\"'")
            }
            let byte = peek
            index += 1
            if let terminator, byte == terminator { break }
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard !atEnd else { throw error("a backslash ends the line") }
            let escaped = peek
            index += 1
            switch escaped {
            case UInt8(ascii: "\\"): out.append(escaped)
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "\"") where !allowQuote: out.append(escaped)
            default:
                if allowQuote {
                    // HELP keeps an unknown escape as written.
                    out.append(contentsOf: [byte, escaped])
                } else {
                    throw error("'\\\(Character(Unicode.Scalar(escaped)))' is not an escape of a label value (\\\\, \\\" or \\n)")
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isDecimalFloatByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    func error(_ reason: String) -> PrometheusParseError {
        PrometheusParseError(line: line, reason: reason)
    }
}
