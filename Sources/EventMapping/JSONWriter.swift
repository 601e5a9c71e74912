/// A minimal JSON writer that appends UTF-8 bytes to one growing buffer.
///
/// The caller writes structure (`{`, `,`, keys) itself; the writer supplies
/// correct strings and numbers. Reuse one writer with `reset()` to keep its
/// capacity, or take `bytes` to hand the finished buffer on without copying.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    public mutating func byte(_ byte: UInt8) { bytes.append(byte) }

    /// Appends bytes that are already JSON (or part of it) as they are.
    @inline(__always)
    public mutating func raw(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// Appends a string's UTF-8 as it is (no quotes, no escaping).
    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends a decimal integer.
    public mutating func integer(_ value: Int64) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    public mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            byte(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, Int) = (value, 0)
        var divisor: UInt64 = 1
        while digits.0 / divisor >= 10 { divisor *= 10; digits.1 += 1 }
        while divisor > 0 {
            byte(UInt8(ascii: "0") + UInt8(digits.0 / divisor % 10))
            divisor /= 10
        }
    }

    /// Appends `value` left-padded with zeros to `width` digits (no sign for
    /// non-negative values; wider values print in full).
    public mutating func padded(_ value: Int, width: Int) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            padded(-value, width: width)
            return
        }
        var divisor = 1
        var needed = 1
        while value / divisor >= 10 { divisor *= 10; needed += 1 }
        if needed < width { for _ in needed..<width { byte(UInt8(ascii: "0")) } }
        while divisor > 0 {
            byte(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    /// Appends a JSON string: quotes, `"` and `\` escaped, control characters
    /// as `\n` `\t` `\r` `\b` `\f` or `\u00XX`; everything else (all non-ASCII
    /// UTF-8 included) as it is.
    public mutating func string(_ text: String) {
        byte(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { escaped($0) }
        byte(UInt8(ascii: "\""))
    }

    /// Appends the escaped content of a string (no surrounding quotes).
    public mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for index in 0..<utf8.count {
            let c = utf8[index]
            guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
            if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
            runStart = index + 1
            byte(UInt8(ascii: "\\"))
            switch c {
            case UInt8(ascii: "\""): byte(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): byte(UInt8(ascii: "\\"))
            case 0x0A: byte(UInt8(ascii: "n"))
            case 0x09: byte(UInt8(ascii: "t"))
            case 0x0D: byte(UInt8(ascii: "r"))
            case 0x08: byte(UInt8(ascii: "b"))
            case 0x0C: byte(UInt8(ascii: "f"))
            default:
                bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                byte(Self.hexDigits[Int(c >> 4)])
                byte(Self.hexDigits[Int(c & 0xF)])
            }
        }
        if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends a double: a JSON number when finite (Swift's shortest
    /// round-trip form, `-0.0` kept), else the string `"NaN"`, `"Infinity"`
    /// or `"-Infinity"`.
    public mutating func double(_ value: Double) {
        if value.isFinite {
            raw(value.description)
        } else {
            byte(UInt8(ascii: "\""))
            doubleNonFiniteText(value)
            byte(UInt8(ascii: "\""))
        }
    }

    mutating func doubleNonFiniteText(_ value: Double) {
        if value.isNaN {
            raw("NaN")
        } else {
            raw(value < 0 ? "-Infinity" : "Infinity")
        }
    }

    /// `text` as a JSON string literal, quoted and escaped.
    public static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 2)
        writer.string(text)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Appends a key and its colon: `"name":`.
    public mutating func key(_ name: String) {
        string(name)
        byte(UInt8(ascii: ":"))
    }
}
