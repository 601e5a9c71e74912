import Foundation

/// Validates a parsed JSON value (from `JSONSerialization`) against a schema
/// from `EventSchemaGenerator`, for the subset of JSON Schema 2020-12 that the
/// generator emits: `type`, `enum`, `const`, `pattern`, `minimum`, `maximum`,
/// `minLength`, `properties`, `required`, `additionalProperties` (boolean),
/// `items`, `uniqueItems`, `anyOf` and `$ref` to `#/$defs/…`. Annotations
/// (`title`, `description`, `format`, `contentEncoding`) are not checked.
///
/// Consumers should use a full validator; this one lets WalBridge's own tests
/// (and `swift test` without other tools) check real events against the schemas.
package enum JSONSchemaCheck {
    /// Every violation, as `path: problem`; empty when the value is valid.
    public static func errors(_ value: Any, against schema: JSONDocument) -> [String] {
        var errors: [String] = []
        check(value, schema, root: schema, path: "$", errors: &errors)
        return errors
    }

    private static func check(_ value: Any, _ schema: JSONDocument, root: JSONDocument, path: String, errors: inout [String]) {
        guard case .object(let members) = schema else {
            if case .bool(false) = schema { errors.append("\(path): no value is allowed here") }
            return
        }
        for (keyword, argument) in members {
            switch keyword {
            case "type":
                let allowed: [String]
                switch argument {
                case .string(let name): allowed = [name]
                case .array(let names): allowed = names.compactMap { if case .string(let n) = $0 { n } else { nil } }
                default: allowed = []
                }
                if !allowed.contains(where: { matches(value, type: $0) }) {
                    errors.append("\(path): expected \(allowed.joined(separator: " or ")), got \(describe(value))")
                }
            case "enum":
                guard case .array(let options) = argument else { continue }
                if !options.contains(where: { equal(value, $0) }) {
                    errors.append("\(path): \(describe(value)) is not one of \(argument.encoded(pretty: false))")
                }
            case "const":
                if !equal(value, argument) {
                    errors.append("\(path): expected \(argument.encoded(pretty: false)), got \(describe(value))")
                }
            case "pattern":
                guard case .string(let pattern) = argument, let text = value as? String, !isBool(value) else { continue }
                guard let regex = try? NSRegularExpression(pattern: pattern) else {
                    errors.append("\(path): the schema's pattern \(pattern) is not a valid regular expression")
                    continue
                }
                let range = NSRange(text.startIndex..., in: text)
                if regex.firstMatch(in: text, range: range) == nil {
                    errors.append("\(path): \(describe(value)) does not match \(pattern)")
                }
            case "minimum", "maximum":
                guard case .integer(let bound) = argument, let number = number(value) else { continue }
                if keyword == "minimum" ? number < Double(bound) : number > Double(bound) {
                    errors.append("\(path): \(number) is out of range (\(keyword) \(bound))")
                }
            case "minLength":
                guard case .integer(let bound) = argument, let text = value as? String else { continue }
                if text.count < bound { errors.append("\(path): shorter than \(bound)") }
            case "required":
                guard case .array(let names) = argument, let object = value as? [String: Any] else { continue }
                for case .string(let name) in names where object[name] == nil {
                    errors.append("\(path): required member '\(name)' is missing")
                }
            case "properties":
                guard case .object(let properties) = argument, let object = value as? [String: Any] else { continue }
                for (name, subschema) in properties {
                    if let member = object[name] {
                        check(member, subschema, root: root, path: path + "." + name, errors: &errors)
                    }
                }
                if case .bool(false)? = schema["additionalProperties"] {
                    let known = Set(properties.map(\.0))
                    for name in object.keys.sorted() where !known.contains(name) {
                        errors.append("\(path): member '\(name)' is not allowed")
                    }
                }
            case "items":
                guard let array = value as? [Any] else { continue }
                for (index, item) in array.enumerated() {
                    check(item, argument, root: root, path: "\(path)[\(index)]", errors: &errors)
                }
            case "uniqueItems":
                guard case .bool(true) = argument, let array = value as? [Any] else { continue }
                let texts = array.map { describe($0) }
                if Set(texts).count != texts.count { errors.append("\(path): items are not unique") }
            case "anyOf":
                guard case .array(let options) = argument else { continue }
                let matched = options.contains { option in
                    var scratch: [String] = []
                    check(value, option, root: root, path: path, errors: &scratch)
                    return scratch.isEmpty
                }
                if !matched { errors.append("\(path): \(describe(value)) matches none of the allowed schemas") }
            case "$ref":
                guard case .string(let reference) = argument, reference.hasPrefix("#/$defs/"),
                      let target = root["$defs"]?[String(reference.dropFirst("#/$defs/".count))]
                else {
                    errors.append("\(path): cannot resolve \(argument.encoded(pretty: false))")
                    continue
                }
                check(value, target, root: root, path: path, errors: &errors)
            default:
                continue  // annotations and keywords checked elsewhere (additionalProperties)
            }
        }
    }

    private static func isBool(_ value: Any) -> Bool {
        if value is Bool && !(value is NSNumber) { return true }
        if let number = value as? NSNumber {
            #if canImport(Darwin)
            return CFGetTypeID(number) == CFBooleanGetTypeID()
            #else
            let type = String(cString: number.objCType)
            return type == "c" || type == "B"
            #endif
        }
        return false
    }

    private static func number(_ value: Any) -> Double? {
        guard !isBool(value) else { return nil }
        switch value {
        case let number as NSNumber: return number.doubleValue
        case let number as Int: return Double(number)
        case let number as Double: return number
        default: return nil
        }
    }

    private static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "boolean": return isBool(value)
        case "string": return value is String
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "number": return number(value) != nil
        case "integer":
            guard let number = number(value) else { return false }
            return number.rounded() == number
        default: return false
        }
    }

    private static func equal(_ value: Any, _ expected: JSONDocument) -> Bool {
        switch expected {
        case .string(let text): return (value as? String) == text
        case .integer(let number): return self.number(value) == Double(number)
        case .bool(let flag): return isBool(value) && (value as? Bool) == flag
        case .null: return value is NSNull
        case .array, .object: return describe(value) == expected.encoded(pretty: false)
        }
    }

    private static func describe(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if isBool(value) { return (value as? Bool) == true ? "true" : "false" }
        if let text = value as? String { return "\"\(text)\"" }
        if let number = number(value) { return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number) }
        if JSONSerialization.isValidJSONObject(value),
           let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
            return String(decoding: data, as: UTF8.self)
        }
        return String(describing: value)
    }
}
