/// A position in the Postgres write-ahead log (a `pg_lsn`).
///
/// Written as `X/Y`: the upper and lower 32 bits in upper-case hexadecimal,
/// exactly as Postgres prints it (`0/16B3748`).
public struct LSN: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The 64-bit WAL byte position.
    public var value: UInt64

    /// The invalid position `0/0`, which Postgres also uses for "none".
    public static let zero = LSN(0)

    public init(_ value: UInt64) { self.value = value }

    /// Parses `X/Y` (hex, either case, each half at most 8 digits).
    /// Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              (1...8).contains(parts[0].count), (1...8).contains(parts[1].count),
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16)
        else { return nil }
        self.value = UInt64(high) << 32 | UInt64(low)
    }

    public var description: String {
        String(UInt32(truncatingIfNeeded: value >> 32), radix: 16, uppercase: true) + "/"
            + String(UInt32(truncatingIfNeeded: value), radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let lsn = LSN(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an LSN of the form X/Y")
        }
        self = lsn
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
