import PostgresReplication

/// One tuple column for `Fixture.tuple`.
enum FixtureColumn {
    case null
    case unchangedToast
    case text(String)
    case binary([UInt8])
    /// A column with an arbitrary kind byte (for malformed input).
    case kind(UInt8)
}

/// Builds wire messages field by field, big-endian, as Postgres writes them.
struct Fixture {
    private(set) var bytes: [UInt8] = []

    init() {}
    init(_ type: Unicode.Scalar) { bytes = [UInt8(ascii: type)] }

    func byte(_ value: UInt8) -> Fixture { appending([value]) }
    func char(_ value: Unicode.Scalar) -> Fixture { appending([UInt8(ascii: value)]) }
    func int16(_ value: Int16) -> Fixture { bigEndian(UInt64(UInt16(bitPattern: value)), size: 2) }
    func int32(_ value: Int32) -> Fixture { bigEndian(UInt64(UInt32(bitPattern: value)), size: 4) }
    func uint32(_ value: UInt32) -> Fixture { bigEndian(UInt64(value), size: 4) }
    func int64(_ value: Int64) -> Fixture { bigEndian(UInt64(bitPattern: value), size: 8) }
    func uint64(_ value: UInt64) -> Fixture { bigEndian(value, size: 8) }
    func lsn(_ value: UInt64) -> Fixture { uint64(value) }
    func cstring(_ value: String) -> Fixture { appending(Array(value.utf8) + [0]) }
    func raw(_ value: [UInt8]) -> Fixture { appending(value) }

    func tuple(_ columns: [FixtureColumn]) -> Fixture {
        var result = int16(Int16(columns.count))
        for column in columns {
            switch column {
            case .null: result = result.char("n")
            case .unchangedToast: result = result.char("u")
            case let .text(text): result = result.char("t").int32(Int32(text.utf8.count)).raw(Array(text.utf8))
            case let .binary(data): result = result.char("b").int32(Int32(data.count)).raw(data)
            case let .kind(byte): result = result.byte(byte)
            }
        }
        return result
    }

    private func appending(_ more: [UInt8]) -> Fixture {
        var copy = self
        copy.bytes += more
        return copy
    }

    private func bigEndian(_ value: UInt64, size: Int) -> Fixture {
        appending((0..<size).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) })
    }
}

/// `"4200ff"` → `[0x42, 0x00, 0xff]` (test fixtures only; traps on bad input).
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    precondition(digits.count % 2 == 0, "odd hex fixture")
    return stride(from: 0, to: digits.count, by: 2).map { index in
        UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!
    }
}

/// The text bytes of a `.text` tuple column, or nil.
func textOf(_ column: TupleColumn) -> String? {
    if case let .text(bytes) = column { return String(decoding: bytes, as: UTF8.self) }
    return nil
}
