import Yams

/// Typed access to a composed YAML tree, turning every mismatch into a
/// `ConfigurationError` that names the file, position and key path.
///
/// Values are read from scalars with environment substitution applied to the
/// scalar's text. A value marked `sensitive` is never quoted in an error.
struct YAMLReader {
    let source: String
    let environment: [String: String]
    let readFile: (String) -> String?

    /// One `key: value` pair of a mapping.
    struct Entry {
        let key: String
        let keyNode: Node
        let value: Node
        let path: String
    }

    func error(_ kind: ConfigurationError.Kind, _ path: String, _ node: Node?, _ message: String) -> ConfigurationError {
        ConfigurationError(kind: kind, source: source, keyPath: path, line: node?.mark?.line, column: node?.mark?.column, message: message)
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(scalar) ? "null" : "a single value"
        case .mapping: "a mapping (key: value pairs)"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    static func isNull(_ scalar: Node.Scalar) -> Bool {
        guard scalar.style == .plain else { return false }
        switch scalar.string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node { return isNull(scalar) }
        return false
    }

    // MARK: Structure

    /// The entries of a mapping node, in file order.
    func entries(_ node: Node, _ path: String, expected: String = "a mapping (key: value pairs)") throws(ConfigurationError) -> [Entry] {
        guard case .mapping(let mapping) = node else {
            throw error(.wrongType, path, node, "expected \(expected), found \(Self.describe(node))")
        }
        var result: [Entry] = []
        result.reserveCapacity(mapping.count)
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw error(.wrongType, path, keyNode, "a key must be a plain name, found \(Self.describe(keyNode))")
            }
            result.append(Entry(key: keyScalar.string, keyNode: keyNode, value: value, path: Self.join(path, keyScalar.string)))
        }
        return result
    }

    /// Rejects any key not in `allowed`, naming the closest valid key.
    /// `place` reads like "in kafka" or "at the top level".
    func checkKeys(_ entries: [Entry], allowed: [String], in path: String, place: String) throws(ConfigurationError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw unknownKey(entry, allowed: allowed, in: path, place: place)
        }
    }

    func unknownKey(_ entry: Entry, allowed: [String], in path: String, place: String) -> ConfigurationError {
        let closest = Levenshtein.closest(to: entry.key, in: allowed)
        let threshold = max(3, entry.key.count / 2)
        var message = "unknown key '\(entry.key)' \(place)"
        var suggestion: String?
        if let closest, closest.distance <= threshold {
            suggestion = closest.candidate
            message += "; did you mean '\(closest.candidate)'?"
        } else {
            message += "; valid keys are: " + allowed.map { "'\($0)'" }.joined(separator: ", ")
        }
        return error(.unknownKey(key: entry.key, suggestion: suggestion), path, entry.keyNode, message)
    }

    func required(_ entries: [Entry], _ key: String, in path: String, _ parent: Node?, hint: String) throws(ConfigurationError) -> Entry {
        guard let entry = entries.first(where: { $0.key == key }), !Self.isNull(entry.value) else {
            throw error(.missingKey(key), Self.join(path, key), parent, "is required but missing; \(hint)")
        }
        return entry
    }

    // MARK: Scalars

    /// The substituted text of a scalar node; `what` describes the expected value.
    func text(_ node: Node, _ path: String, expected what: String, sensitive: Bool = false) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else {
            throw error(.wrongType, path, node, "expected \(what), found \(Self.describe(node))")
        }
        do {
            return try EnvironmentSubstitution.apply(scalar.string, environment: environment, readFile: readFile)
        } catch {
            switch error {
            case .unsetVariable(let name):
                throw self.error(.unsetVariable(name), path, node,
                                 "environment variable '\(name)' is not set; set it before starting WalBridge, or write the value in the file")
            case .invalidReference(let reference):
                let shown = sensitive ? "" : " '${\(reference)}'"
                throw self.error(.invalidValue, path, node,
                                 "the reference\(shown) is neither ${NAME} (letters, digits, _) nor ${file:/path}; write '$${' for a literal '${'")
            case .unterminated:
                throw self.error(.invalidValue, path, node, "a '${' has no closing '}'; write ${NAME}, or '$${' for a literal '${'")
            case .unreadableFile(let filePath):
                throw self.error(.unreadableSecretFile(filePath), path, node,
                                 "cannot read the file '\(filePath)' named by ${file:...}; check that it exists and is readable UTF-8 text")
            }
        }
    }

    func string(_ node: Node, _ path: String, sensitive: Bool = false, allowEmpty: Bool = false) throws(ConfigurationError) -> String {
        if Self.isNull(node) {
            throw error(.wrongType, path, node, "expected a string, found null; give a value or remove the key")
        }
        let value = try text(node, path, expected: "a string", sensitive: sensitive)
        if !allowEmpty && value.trimmingSpaces.isEmpty {
            throw error(.invalidValue, path, node, "must not be empty")
        }
        return value
    }

    /// nil for YAML null (`null`, `~` or nothing); an empty string after
    /// substitution also counts as "not set".
    func optionalString(_ node: Node?, _ path: String) throws(ConfigurationError) -> String? {
        guard let node, !Self.isNull(node) else { return nil }
        let value = try text(node, path, expected: "a string or null")
        return value.trimmingSpaces.isEmpty ? nil : value
    }

    func int(_ node: Node, _ path: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let value = try text(node, path, expected: "a whole number")
        guard let number = Int(value.trimmingSpaces.replacingAll("_", with: "")), range.contains(number) else {
            let bound = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            throw error(.invalidValue, path, node, "'\(value)' is not a whole number \(bound)")
        }
        return number
    }

    func bool(_ node: Node, _ path: String) throws(ConfigurationError) -> Bool {
        let value = try text(node, path, expected: "true or false")
        switch value.trimmingSpaces {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error(.invalidValue, path, node, "'\(value)' is not a boolean; write true or false")
        }
    }

    func duration(_ node: Node, _ path: String) throws(ConfigurationError) -> Duration {
        let value = try text(node, path, expected: "a duration")
        guard let duration = DurationText.parse(value.trimmingSpaces) else {
            throw error(.invalidValue, path, node, "'\(value)' is not a duration; write \(DurationText.acceptedForms)")
        }
        return duration
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _ type: T.Type) throws(ConfigurationError) -> T
    where T.RawValue == String {
        let value = try text(node, path, expected: "one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
        if let result = T(rawValue: value.trimmingSpaces) { return result }
        let names = T.allCases.map(\.rawValue)
        var message = "'\(value)' is not valid; write one of: " + names.joined(separator: ", ")
        if let closest = Levenshtein.closest(to: value, in: names), closest.distance <= 2 {
            message += " (did you mean '\(closest.candidate)'?)"
        }
        throw error(.invalidValue, path, node, message)
    }

    /// A list of non-empty strings (`[id, org_id]`).
    func stringList(_ node: Node, _ path: String) throws(ConfigurationError) -> [String] {
        guard case .sequence(let sequence) = node else {
            throw error(.wrongType, path, node, "expected a list of names like [id], found \(Self.describe(node))")
        }
        var result: [String] = []
        for (position, item) in sequence.enumerated() {
            result.append(try string(item, path + "[\(position)]"))
        }
        return result
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
