/// Parses Postgres's array literal text (`array_out` output):
/// `{1,2,NULL}`, `{"a b","q\"uote",NULL,"NULL"}`, `{{1,2},{3,4}}`, `{}`,
/// and the bounds-decorated `[0:1]={1,2}` (bounds dropped).
///
/// Unquoted `NULL` (any case) is SQL NULL; a quoted `"NULL"` is the text.
/// Each element's text goes through `element`; nested braces become nested
/// `.array`s. At most 6 dimensions (Postgres's MAXDIM).
enum ArrayLiteralParser {
    static let maxDimensions = 6

    static func parse(
        _ text: String, delimiter: UInt8,
        element: (String) throws(ValueSyntaxError) -> PostgresValue
    ) throws(ValueSyntaxError) -> PostgresValue {
        var parser = Parser(bytes: Array(text.utf8), delimiter: delimiter)
        parser.skipSpaces()
        if parser.peek() == UInt8(ascii: "[") {
            try parser.skipDimensions()
            parser.skipSpaces()
        }
        guard parser.consume(UInt8(ascii: "{")) else { throw ValueSyntaxError("expected '{' to start the array") }
        let value = try parser.parseBody(depth: 1, element: element)
        parser.skipSpaces()
        guard parser.isAtEnd else { throw ValueSyntaxError("unexpected characters after the array") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        let delimiter: UInt8
        var position = 0

        init(bytes: [UInt8], delimiter: UInt8) {
            self.bytes = bytes
            self.delimiter = delimiter
        }

        var isAtEnd: Bool { position >= bytes.count }

        func peek() -> UInt8? { isAtEnd ? nil : bytes[position] }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek() == byte else { return false }
            position &+= 1
            return true
        }

        static func isSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
        }

        mutating func skipSpaces() {
            while let byte = peek(), Self.isSpace(byte) { position &+= 1 }
        }

        /// `[lower:upper]` once per dimension, then `=`.
        mutating func skipDimensions() throws(ValueSyntaxError) {
            while consume(UInt8(ascii: "[")) {
                var sawDigit = false
                while let byte = peek(), byte != UInt8(ascii: "]") {
                    switch byte {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): sawDigit = true
                    case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: ":"): break
                    default: throw ValueSyntaxError("invalid array dimension bounds")
                    }
                    position &+= 1
                }
                guard sawDigit, consume(UInt8(ascii: "]")) else { throw ValueSyntaxError("invalid array dimension bounds") }
            }
            skipSpaces()
            guard consume(UInt8(ascii: "=")) else { throw ValueSyntaxError("expected '=' after array dimensions") }
        }

        /// After `{`: elements up to the matching `}`.
        mutating func parseBody(
            depth: Int, element: (String) throws(ValueSyntaxError) -> PostgresValue
        ) throws(ValueSyntaxError) -> PostgresValue {
            skipSpaces()
            if consume(UInt8(ascii: "}")) { return .array([]) }
            var items: [PostgresValue] = []
            while true {
                skipSpaces()
                switch peek() {
                case UInt8(ascii: "{"):
                    guard depth < maxDimensions else { throw ValueSyntaxError("array has more than \(maxDimensions) dimensions") }
                    position &+= 1
                    items.append(try parseBody(depth: depth + 1, element: element))
                case UInt8(ascii: "\""):
                    position &+= 1
                    items.append(try element(try parseQuoted()))
                case nil:
                    throw ValueSyntaxError("unterminated array")
                default:
                    if let text = try parseUnquoted() {
                        items.append(try element(text))
                    } else {
                        items.append(.null)
                    }
                }
                skipSpaces()
                if consume(delimiter) { continue }
                if consume(UInt8(ascii: "}")) { return .array(items) }
                throw ValueSyntaxError(isAtEnd ? "unterminated array" : "expected a delimiter or '}' in the array")
            }
        }

        /// After the opening quote: text up to the closing quote, with `\x` → `x`.
        mutating func parseQuoted() throws(ValueSyntaxError) -> String {
            var text: [UInt8] = []
            while let byte = peek() {
                position &+= 1
                if byte == UInt8(ascii: "\"") {
                    return String(decoding: text, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = peek() else { break }
                    position &+= 1
                    text.append(escaped)
                } else {
                    text.append(byte)
                }
            }
            throw ValueSyntaxError("unterminated quoted array element")
        }

        /// An unquoted element up to the delimiter or `}`; nil for `NULL`.
        mutating func parseUnquoted() throws(ValueSyntaxError) -> String? {
            var text: [UInt8] = []
            var keptLength = 0  // length without trailing unescaped whitespace
            var sawEscape = false
            while let byte = peek(), byte != delimiter, byte != UInt8(ascii: "}") {
                position &+= 1
                switch byte {
                case UInt8(ascii: "\\"):
                    guard let escaped = peek() else { throw ValueSyntaxError("unterminated array") }
                    position &+= 1
                    text.append(escaped)
                    keptLength = text.count
                    sawEscape = true
                case UInt8(ascii: "{"), UInt8(ascii: "\""):
                    throw ValueSyntaxError("unexpected '\(Character(Unicode.Scalar(byte)))' in an array element")
                default:
                    text.append(byte)
                    if !Self.isSpace(byte) { keptLength = text.count }
                }
            }
            text.removeLast(text.count - keptLength)
            guard !text.isEmpty else { throw ValueSyntaxError("empty array element") }
            if !sawEscape && text.count == 4,
               String(decoding: text, as: UTF8.self).uppercased() == "NULL" {
                return nil
            }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
