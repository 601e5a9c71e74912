/// Reads and writes the configuration's duration syntax: a whole number
/// followed by a unit, `500ms`, `30s`, `15m`, `6h` or `7d`; `0` alone is zero.
public enum DurationText {
    /// The accepted forms, for error messages.
    public static let acceptedForms = "a whole number with a unit: 500ms, 30s, 15m, 6h or 7d (or 0)"

    /// Parses a duration; nil when the text is not one of the accepted forms
    /// or is too large to represent.
    public static func parse(_ text: String) -> Duration? {
        let bytes = Array(text.utf8)
        var digitsEnd = 0
        while digitsEnd < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digitsEnd]) {
            digitsEnd += 1
        }
        guard digitsEnd > 0, digitsEnd <= 15 else { return nil }
        var number: Int64 = 0
        for byte in bytes[..<digitsEnd] { number = number * 10 + Int64(byte - UInt8(ascii: "0")) }
        let unit = String(decoding: bytes[digitsEnd...], as: UTF8.self)
        let milliseconds: Int64
        switch unit {
        case "ms": milliseconds = 1
        case "s": milliseconds = 1_000
        case "m": milliseconds = 60_000
        case "h": milliseconds = 3_600_000
        case "d": milliseconds = 86_400_000
        case "" where number == 0: return .zero
        default: return nil
        }
        let (total, overflow) = number.multipliedReportingOverflow(by: milliseconds)
        guard !overflow else { return nil }
        return .milliseconds(total)
    }

    /// Formats a duration in the largest unit that divides it exactly
    /// (`90s` → `90s`, `7200s` → `2h`); sub-millisecond parts are dropped.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "0s" }
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
