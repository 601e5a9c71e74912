import Foundation

/// Replaces `${NAME}` and `${file:/path}` in one configuration value.
///
/// Applied to each scalar value after YAML parsing, so a substituted text is
/// always one plain value and can never add YAML structure. `$${` writes a
/// literal `${`. `${file:PATH}` is the file's content with one trailing newline
/// (`\n` or `\r\n`) removed: the usual way to read a mounted secret.
enum EnvironmentSubstitution {
    enum Failure: Error, Equatable {
        case unsetVariable(String)
        case invalidReference(String)
        case unterminated
        case unreadableFile(path: String)
    }

    static func apply(
        _ text: String, environment: [String: String], readFile: (String) -> String?
    ) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "$" {
                let next = text.index(after: index)
                if text[next...].hasPrefix("${") {
                    output += "${"
                    index = text.index(next, offsetBy: 2)
                    continue
                }
                if next < text.endIndex, text[next] == "{" {
                    let nameStart = text.index(after: next)
                    guard let close = text[nameStart...].firstIndex(of: "}") else { throw .unterminated }
                    let reference = String(text[nameStart..<close])
                    output += try resolve(reference, environment: environment, readFile: readFile)
                    index = text.index(after: close)
                    continue
                }
            }
            output.append(character)
            index = text.index(after: index)
        }
        return output
    }

    private static func resolve(
        _ reference: String, environment: [String: String], readFile: (String) -> String?
    ) throws(Failure) -> String {
        if reference.hasPrefix("file:") {
            let path = String(reference.dropFirst(5))
            guard !path.isEmpty else { throw .invalidReference(reference) }
            guard var content = readFile(path) else { throw .unreadableFile(path: path) }
            // "\r\n" is one Character, so one removeLast() drops either ending.
            if content.hasSuffix("\r\n") || content.hasSuffix("\n") {
                content.removeLast()
            }
            return content
        }
        guard isVariableName(reference) else { throw .invalidReference(reference) }
        guard let value = environment[reference] else { throw .unsetVariable(reference) }
        return value
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }

    /// Reads a secret file; nil when it does not exist or is not UTF-8 text.
    static func readFile(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
