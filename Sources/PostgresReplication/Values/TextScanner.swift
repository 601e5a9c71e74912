/// A forward cursor over a string's UTF-8 bytes for small fixed-format parsers.
struct TextScanner {
    private let utf8: String.UTF8View
    private var index: String.UTF8View.Index

    init(_ text: String) {
        utf8 = text.utf8
        index = utf8.startIndex
    }

    var isAtEnd: Bool { index == utf8.endIndex }

    func peek() -> UInt8? {
        isAtEnd ? nil : utf8[index]
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index = utf8.index(after: index)
        return true
    }

    /// Reads between `min` and `max` (≤ 18) decimal digits; nil if fewer than `min`.
    mutating func digits(min: Int, max: Int) -> (value: Int, count: Int)? {
        var value = 0
        var count = 0
        while count < max, let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            value = value &* 10 &+ Int(byte &- UInt8(ascii: "0"))
            count &+= 1
            index = utf8.index(after: index)
        }
        return count >= min ? (value, count) : nil
    }
}
