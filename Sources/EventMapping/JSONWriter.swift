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

    /// Appends a decimal integer without sign. The digits are written right
    /// to left into a stack buffer and appended at once.
    public mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            byte(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value
            var start = 20
            while rest > 0 {
                start &-= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
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
        var digits = 1
        var rest = value
        while rest >= 10 { rest /= 10; digits &+= 1 }
        for _ in digits..<max(digits, width) { byte(UInt8(ascii: "0")) }
        unsigned(UInt64(value))
    }

    /// Writes `value` (non-negative, below 10^`width`) as exactly `width`
    /// digits at `out`, zero-padded: the fixed-width fields of dates and times.
    @inline(__always)
    static func fixedDigits(_ value: Int, width: Int, at out: UnsafeMutablePointer<UInt8>) {
        var rest = value
        var index = width
        while index > 0 {
            index &-= 1
            out[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
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
        guard Self.needsEscaping(utf8) else {
            bytes.append(contentsOf: utf8)
            return
        }
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

    /// Whether any byte is a control character, `"` or `\\`: eight bytes at a
    /// time (a byte-wise "less than" and two "equals" on one 64-bit word), the
    /// rest one by one. Most values need no escaping and are copied at once.
    @inline(__always)
    static func needsEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = utf8.baseAddress else { return false }
        let count = utf8.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index &+ 8 <= count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            let control = (word &- ones &* 0x20) & ~word & highBits
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let quoteZero = (quote &- ones) & ~quote & highBits
            let backslashZero = (backslash &- ones) & ~backslash & highBits
            if control | quoteZero | backslashZero != 0 { return true }
            index &+= 8
        }
        while index < count {
            let c = base[index]
            if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return true }
            index &+= 1
        }
        return false
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
