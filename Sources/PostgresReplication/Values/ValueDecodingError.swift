/// A column value whose text could not be decoded as its declared type.
///
/// Carries only this one value, cut to its first 40 characters, so logging
/// the error never leaks a whole row. The row can be dead-lettered.
public struct ValueDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The column's type OID.
    public var typeOID: UInt32
    /// The type's name when known (built-in or registered by a Type message).
    public var typeName: String?
    /// The offending text, at most `maxTextLength` characters.
    public var text: String
    /// True when `text` was cut.
    public var textTruncated: Bool
    /// What is wrong with it, e.g. "month out of range".
    public var reason: String

    /// How much of the offending value an error keeps.
    public static let maxTextLength = 40

    public init(typeOID: UInt32, typeName: String?, text: some StringProtocol, reason: String) {
        self.typeOID = typeOID
        self.typeName = typeName
        self.textTruncated = text.count > Self.maxTextLength
        self.text = String(text.prefix(Self.maxTextLength))
        self.reason = reason
    }

    public var description: String {
        let type = typeName.map { "\($0) (oid \(typeOID))" } ?? "oid \(typeOID)"
        let shown = Self.escaped(text) + (textTruncated ? "…" : "")
        return "cannot decode \(type) value '\(shown)': \(reason)"
    }

    /// Control characters as escapes so the message stays on one line.
    private static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// Internal: why a text failed to parse; the decoder adds type and text.
struct ValueSyntaxError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
