import PostgresReplication

/// Name-based UUIDs, version 5 (SHA-1), as RFC 9562 (formerly RFC 4122) defines them.
package enum UUIDv5 {
    /// The WalBridge namespace for event ids.
    public static let walBridgeNamespace: [UInt8] = parse("fa042b31-7c2a-4f9e-8581-62e20b24907d")!
    /// RFC 9562's DNS namespace (`6ba7b810-9dad-11d1-80b4-00c04fd430c8`).
    public static let dnsNamespace: [UInt8] = parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")!

    /// The UUID (lower-case, hyphenated) for `name` in `namespace` (16 bytes).
    public static func make(namespace: [UInt8], name: some Collection<UInt8>) -> String {
        precondition(namespace.count == 16, "a UUID namespace is 16 bytes")
        let total = 16 + name.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: total) { buffer in
            _ = buffer.initialize(fromContentsOf: namespace)
            let rest = UnsafeMutableBufferPointer(rebasing: buffer[16...])
            if name.withContiguousStorageIfAvailable({ _ = rest.initialize(fromContentsOf: $0) }) == nil {
                _ = rest.initialize(fromContentsOf: name)
            }
            let words = SHA1.hash(UnsafeRawBufferPointer(buffer))
            return format(words)
        }
    }

    /// The UUID for a UTF-8 name.
    public static func make(namespace: [UInt8], name: String) -> String {
        make(namespace: namespace, name: Array(name.utf8))
    }

    /// Formats the first 128 bits of a SHA-1 state as a version-5 UUID.
    static func format(_ words: (UInt32, UInt32, UInt32, UInt32, UInt32)) -> String {
        var bytes: (UInt32, UInt32, UInt32, UInt32) = (words.0, words.1, words.2, words.3)
        // Version 5 in the high nibble of byte 6; variant 10 in the top bits of byte 8.
        bytes.1 = (bytes.1 & 0xFFFF_0FFF) | 0x0000_5000
        bytes.2 = (bytes.2 & 0x3FFF_FFFF) | 0x8000_0000
        return String(unsafeUninitializedCapacity: 36) { out in
            let out = out.baseAddress!
            /// The low `count` hex digits of `value` at `out + offset`, most significant first.
            @inline(__always)
            func put(_ value: UInt32, digits count: Int, at offset: Int) {
                for index in 0..<count {
                    out[offset &+ index] = hexDigit(value &>> UInt32(truncatingIfNeeded: 4 &* (count &- 1 &- index)))
                }
            }
            // 8-4-4-4-12 hex digits.
            put(bytes.0, digits: 8, at: 0)
            out[8] = UInt8(ascii: "-")
            put(bytes.1 &>> 16, digits: 4, at: 9)
            out[13] = UInt8(ascii: "-")
            put(bytes.1, digits: 4, at: 14)
            out[18] = UInt8(ascii: "-")
            put(bytes.2 &>> 16, digits: 4, at: 19)
            out[23] = UInt8(ascii: "-")
            put(bytes.2, digits: 4, at: 24)
            put(bytes.3, digits: 8, at: 28)
            return 36
        }
    }

    /// The lower-case hex digit of the low nibble of `value`.
    @inline(__always)
    static func hexDigit(_ value: UInt32) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// Parses a hyphenated UUID into 16 bytes.
    public static func parse(_ text: String) -> [UInt8]? {
        let digits = text.utf8.filter { $0 != UInt8(ascii: "-") }
        guard digits.count == 32 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(16)
        for i in stride(from: 0, to: 32, by: 2) {
            guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else { return nil }
            result.append(high << 4 | low)
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The event id of a row change: UUIDv5 in the WalBridge namespace of
/// `<systemID>/<database>/<commit LSN>/<ordinal>` (docs/events.md, "Event ids").
public func eventID(systemID: String, database: String, commitLSN: LSN, ordinal: Int) -> String {
    UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: "\(systemID)/\(database)/\(commitLSN)/\(ordinal)")
}

/// The event id of a logical-decoding message: `<systemID>/<database>/<LSN>/m<k>`
/// for the k-th message (0-based) of a transaction at commit `lsn`, or
/// `<systemID>/<database>/<LSN>/m` for a non-transactional message at its own `lsn`
/// (`messageIndex` nil).
package func messageEventID(systemID: String, database: String, lsn: LSN, messageIndex: Int?) -> String {
    let suffix = messageIndex.map { "m\($0)" } ?? "m"
    return UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: "\(systemID)/\(database)/\(lsn)/\(suffix)")
}
