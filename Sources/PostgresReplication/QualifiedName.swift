/// A schema-qualified table name, as Postgres identifies a table: the one
/// name type of the configuration, the catalog queries and the publication.
///
/// Parsed from the YAML `table:` key with SQL's identifier rules: a quoted
/// part (`"Order Items"`) is taken exactly, with `""` standing for one `"`;
/// an unquoted part is folded to lower case, as SQL does; a name without a
/// schema is in `public`.
public struct QualifiedName: Sendable, Hashable, CustomStringConvertible {
    /// The schema (namespace) name, exactly as stored in `pg_namespace`.
    public var schema: String
    /// The table name, exactly as stored in `pg_class`.
    public var table: String

    public init(schema: String, table: String) {
        self.schema = schema
        self.table = table
    }

    /// The name as SQL text with both parts always quoted: `"schema"."table"`,
    /// any `"` inside doubled. Safe to splice into a statement.
    public var sqlQuoted: String {
        Self.quote(schema) + "." + Self.quote(table)
    }

    /// The name as a person would write it: each part quoted only when it
    /// needs to be (`public.users`, `"Quoted"" . Schema"."Order Items"`).
    public var description: String {
        Self.quoteIfNeeded(schema) + "." + Self.quoteIfNeeded(table)
    }

    /// Quotes one identifier: `Order Items` → `"Order Items"`, `a"b` → `"a""b"`.
    public static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingAll("\"", with: "\"\"") + "\""
    }

    static func quoteIfNeeded(_ identifier: String) -> String {
        isPlainIdentifier(identifier) ? identifier : quote(identifier)
    }

    /// Whether SQL would read the identifier unquoted as itself: lower-case
    /// letters, digits, `_` and `$`, not starting with a digit or `$`.
    static func isPlainIdentifier(_ identifier: String) -> Bool {
        guard let first = identifier.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              first != UInt8(ascii: "$")
        else { return false }
        return identifier.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$")
        }
    }

    /// Why a text is not a table name.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case unterminatedQuote
        case emptyPart
        case tooManyParts(Int)
        case unexpectedCharacter(Character)
        case invalidUnquotedName(String)

        public var description: String {
            switch self {
            case .empty:
                return "the table name is empty"
            case .unterminatedQuote:
                return "a quoted name has no closing '\"' (write a '\"' inside a quoted name as '\"\"')"
            case .emptyPart:
                return "the schema or table part is empty"
            case .tooManyParts(let count):
                return "the name has \(count) dot-separated parts; write 'schema.table' or just 'table' (quote a part that contains a dot)"
            case .unexpectedCharacter(let character):
                return "unexpected character '\(character)' after a quoted name; expected '.' or the end"
            case .invalidUnquotedName(let part):
                return "'\(part)' is not a valid unquoted SQL identifier; quote it as \(QualifiedName.quote(part))"
            }
        }
    }

    /// Parses `schema.table`, `table` (schema `public`) or their quoted forms.
    public static func parse(_ text: String) throws(ParseError) -> QualifiedName {
        var parts: [String] = []
        var index = text.startIndex
        func skipSpaces() {
            while index < text.endIndex, text[index] == " " || text[index] == "\t" { index = text.index(after: index) }
        }
        skipSpaces()
        if index == text.endIndex { throw .empty }
        while true {
            skipSpaces()
            guard index < text.endIndex else { throw .emptyPart }
            if text[index] == "\"" {
                var part = ""
                index = text.index(after: index)
                var closed = false
                while index < text.endIndex {
                    let character = text[index]
                    index = text.index(after: index)
                    if character == "\"" {
                        if index < text.endIndex, text[index] == "\"" {
                            part.append("\"")
                            index = text.index(after: index)
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        part.append(character)
                    }
                }
                guard closed else { throw .unterminatedQuote }
                guard !part.isEmpty else { throw .emptyPart }
                parts.append(part)
                skipSpaces()
            } else {
                var part = ""
                while index < text.endIndex, text[index] != "." {
                    if text[index] == "\"" { throw .invalidUnquotedName(part + "\"") }
                    part.append(text[index])
                    index = text.index(after: index)
                }
                while part.last == " " || part.last == "\t" { part.removeLast() }
                guard !part.isEmpty else { throw .emptyPart }
                let folded = part.lowercased()
                guard isPlainIdentifier(folded) else { throw .invalidUnquotedName(part) }
                parts.append(folded)
            }
            if index == text.endIndex { break }
            guard text[index] == "." else { throw .unexpectedCharacter(text[index]) }
            index = text.index(after: index)
        }
        switch parts.count {
        case 1: return QualifiedName(schema: "public", table: parts[0])
        case 2: return QualifiedName(schema: parts[0], table: parts[1])
        default: throw .tooManyParts(parts.count)
        }
    }
}
