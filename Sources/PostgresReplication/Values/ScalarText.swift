/// Parsers for the text output of Postgres's scalar types (bool, integers,
/// floats, numeric, bytea). Each validates strictly and throws a reason.
enum ScalarText {
    static func bool(_ text: String) throws(ValueSyntaxError) -> Bool {
        switch text {
        case "t": return true
        case "f": return false
        default: throw ValueSyntaxError("expected 't' or 'f'")
        }
    }

    static func integer(_ text: String) throws(ValueSyntaxError) -> Int64 {
        guard let value = Int64(text, radix: 10) else {
            throw ValueSyntaxError("not a 64-bit integer")
        }
        return value
    }

    /// The value of `[+-]digits` in 64 bits, or nil (then the `String` path
    /// reports the error): the same inputs as `Int64(_:radix: 10)` accepts.
    @inline(__always)
    static func integer(utf8 bytes: UnsafeRawBufferPointer) -> Int64? {
        guard let base = bytes.baseAddress, bytes.count > 0, bytes.count <= 20 else { return nil }
        var index = 0
        let first = base.load(as: UInt8.self)
        let negative = first == UInt8(ascii: "-")
        if negative || first == UInt8(ascii: "+") { index = 1 }
        guard index < bytes.count else { return nil }
        // Accumulate as a negative number: its range holds Int64.min.
        var value: Int64 = 0
        while index < bytes.count {
            let digit = base.load(fromByteOffset: index, as: UInt8.self) &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index &+= 1
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    /// `1.5`, `-0`, `1e+30`, `NaN`, `Infinity`, `-Infinity` (float4 is widened
    /// from its shortest decimal text, so `1.1` stays `1.1`).
    static func float(_ text: String) throws(ValueSyntaxError) -> Double {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: break
        }
        guard isDecimal(text, allowExponent: true), let value = Double(text) else {
            throw ValueSyntaxError("not a floating-point number")
        }
        return value
    }

    /// The exact text: `-12.50`, `NaN`, `Infinity`, `-Infinity`.
    static func numeric(_ text: String) throws(ValueSyntaxError) -> String {
        if text == "NaN" || text == "Infinity" || text == "-Infinity" { return text }
        guard isDecimal(text, allowExponent: false) else {
            throw ValueSyntaxError("not a numeric value")
        }
        return text
    }

    /// `[+-]digits[.digits][e[+-]digits]` (digits on at least one side of the point).
    private static func isDecimal(_ text: String, allowExponent: Bool) -> Bool {
        var bytes = text.utf8[...]
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            bytes = bytes.dropFirst()
        }
        let integerDigits = bytes.prefix(while: isDigit).count
        bytes = bytes.dropFirst(integerDigits)
        var fractionDigits = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionDigits = bytes.prefix(while: isDigit).count
            bytes = bytes.dropFirst(fractionDigits)
        }
        guard integerDigits + fractionDigits > 0 else { return false }
        if allowExponent, let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                bytes = bytes.dropFirst()
            }
            let exponentDigits = bytes.prefix(while: isDigit).count
            guard exponentDigits > 0 else { return false }
            bytes = bytes.dropFirst(exponentDigits)
        }
        return bytes.isEmpty
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Hex format (`\x0a0b`) or the legacy escape format (`a\\b\001`).
    static func bytea(_ text: String) throws(ValueSyntaxError) -> [UInt8] {
        let utf8 = text.utf8
        if utf8.starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "x")]) {
            return try hex(utf8.dropFirst(2))
        }
        return try escaped(utf8)
    }

    private static func hex(_ digits: Substring.UTF8View) throws(ValueSyntaxError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var high: UInt8?
        for byte in digits {
            guard let nibble = hexValue(byte) else {
                throw ValueSyntaxError("invalid hexadecimal digit in bytea")
            }
            if let h = high {
                result.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        if high != nil { throw ValueSyntaxError("odd number of hexadecimal digits in bytea") }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    private static func escaped(_ utf8: String.UTF8View) throws(ValueSyntaxError) -> [UInt8] {
        var result: [UInt8] = []
        var bytes = utf8[...]
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            guard byte == UInt8(ascii: "\\") else {
                result.append(byte)
                continue
            }
            if bytes.first == UInt8(ascii: "\\") {
                result.append(byte)
                bytes = bytes.dropFirst()
                continue
            }
            let octal = Array(bytes.prefix(3))
            guard octal.count == 3,
                  octal[0] >= UInt8(ascii: "0"), octal[0] <= UInt8(ascii: "3"),
                  octal.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") })
            else { throw ValueSyntaxError("invalid escape in bytea") }
            result.append(octal.reduce(0) { $0 << 3 | ($1 &- UInt8(ascii: "0")) })
            bytes = bytes.dropFirst(3)
        }
        return result
    }
}
