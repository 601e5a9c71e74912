import Yams

/// Checks a Postgres connection string without ever echoing it.
enum PostgresURLCheck {
    /// What is wrong with the URL, in words that contain no part of it; nil when it looks usable.
    static func problem(in url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") else {
            if !url.contains("://") && url.contains("=") { return nil }  // keyword/value conninfo
            return "the URL must start with postgres:// or postgresql://"
        }
        let rest = url[url.index(url.firstRange(of: "://")!.upperBound, offsetBy: 0)...]
        let afterUserInfo = rest.lastIndex(of: "@").map { rest[rest.index(after: $0)...] } ?? rest
        let hostList = afterUserInfo.prefix { $0 != "/" && $0 != "?" }
        for host in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            var portText: Substring?
            if host.hasPrefix("[") {
                guard let close = host.firstIndex(of: "]") else { return "an IPv6 host has no closing ']'" }
                let after = host[host.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { return "unexpected text after an IPv6 host" }
                    portText = after.dropFirst()
                }
            } else if let colon = host.firstIndex(of: ":") {
                portText = host[host.index(after: colon)...]
            }
            if let portText {
                guard let port = Int(portText), (1...65_535).contains(port) else {
                    return "the port is not a number from 1 to 65535"
                }
            }
        }
        return nil
    }
}

/// Kafka's rule for topic names: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
public enum KafkaTopicName {
    /// What is wrong with a topic name; nil when Kafka accepts it.
    public static func problem(_ topic: String) -> String? {
        if topic.isEmpty { return "the topic name is empty" }
        if topic == "." || topic == ".." { return "'\(topic)' is not allowed as a topic name" }
        if topic.utf8.count > 249 { return "the topic name is longer than 249 characters" }
        let valid = topic.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return valid ? nil : "'\(topic)' is not a valid Kafka topic name: use only letters, digits, '.', '_' and '-'"
    }
}

/// Turns a Yams error into a message with line and column but without the
/// file's text (Yams's own description quotes the file, which may hold secrets).
enum YAMLErrorTranslation {
    static func configurationError(_ error: YamlError, source: String) -> ConfigurationError {
        func make(_ problem: String, _ context: YamlError.Context?, _ mark: Mark?) -> ConfigurationError {
            var message = "the file is not valid YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            message += "; check the indentation and quoting there"
            return ConfigurationError(kind: .malformedYAML, source: source, keyPath: "", line: mark?.line, column: mark?.column, message: message)
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            return make(problem, context, mark)
        case let .reader(problem, _, _, _):
            return make(problem, nil, nil)
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigurationError(
                kind: .malformedYAML, source: source, keyPath: "", line: context.mark.line, column: context.mark.column,
                message: "the key(s) " + duplicates.map { "'\($0)'" }.joined(separator: ", ")
                    + " appear twice in the same mapping; keep one of each")
        default:
            return make("the text cannot be read", nil, nil)
        }
    }
}
