/// SHA-1 (FIPS 180-4), used only for name-based (version 5) UUIDs.
///
/// Not for security: UUIDv5 is defined on SHA-1. One-shot over a contiguous
/// buffer, without heap allocation.
public enum SHA1 {
    /// The 20-byte digest of `bytes`.
    public static func digest(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let array = Array(bytes)
        let words = array.withUnsafeBytes { hash($0) }
        return digestBytes(words)
    }

    /// The digest as 40 lower-case hex digits.
    public static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        digest(bytes).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    static func digestBytes(_ words: (UInt32, UInt32, UInt32, UInt32, UInt32)) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(20)
        for word in [words.0, words.1, words.2, words.3, words.4] {
            result.append(UInt8(truncatingIfNeeded: word >> 24))
            result.append(UInt8(truncatingIfNeeded: word >> 16))
            result.append(UInt8(truncatingIfNeeded: word >> 8))
            result.append(UInt8(truncatingIfNeeded: word))
        }
        return result
    }

    /// The five state words after hashing `message` (with padding).
    static func hash(_ message: UnsafeRawBufferPointer) -> (UInt32, UInt32, UInt32, UInt32, UInt32) {
        var state: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { schedule in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
                let fullBlocks = message.count / 64
                for block in 0..<fullBlocks {
                    compress(&state, UnsafeRawBufferPointer(rebasing: message[(block * 64)..<(block * 64 + 64)]), schedule)
                }
                // Padding: the rest, 0x80, zeros, then the bit length (big-endian) in one or two blocks.
                let restCount = message.count - fullBlocks * 64
                let tailBytes = UnsafeMutableRawBufferPointer(tail)
                tailBytes.initializeMemory(as: UInt8.self, repeating: 0)
                for i in 0..<restCount { tailBytes[i] = message[fullBlocks * 64 + i] }
                tailBytes[restCount] = 0x80
                let tailLength = restCount + 1 + 8 <= 64 ? 64 : 128
                let bitLength = UInt64(message.count) &* 8
                for i in 0..<8 { tailBytes[tailLength - 1 - i] = UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i))) }
                let tailRaw = UnsafeRawBufferPointer(tailBytes)
                compress(&state, UnsafeRawBufferPointer(rebasing: tailRaw[0..<64]), schedule)
                if tailLength == 128 { compress(&state, UnsafeRawBufferPointer(rebasing: tailRaw[64..<128]), schedule) }
            }
        }
        return state
    }

    private static func compress(
        _ state: inout (UInt32, UInt32, UInt32, UInt32, UInt32), _ block: UnsafeRawBufferPointer, _ w: UnsafeMutableBufferPointer<UInt32>
    ) {
        for t in 0..<16 {
            w[t] = UInt32(block[t * 4]) << 24 | UInt32(block[t * 4 + 1]) << 16 | UInt32(block[t * 4 + 2]) << 8 | UInt32(block[t * 4 + 3])
        }
        for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
        var (a, b, c, d, e) = state
        @inline(__always)
        func round(_ f: UInt32, _ k: UInt32, _ t: Int) {
            let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        for t in 0..<20 { round((b & c) | (~b & d), 0x5A82_7999, t) }
        for t in 20..<40 { round(b ^ c ^ d, 0x6ED9_EBA1, t) }
        for t in 40..<60 { round((b & c) | (b & d) | (c & d), 0x8F1B_BCDC, t) }
        for t in 60..<80 { round(b ^ c ^ d, 0xCA62_C1D6, t) }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
    }

    @inline(__always)
    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
}
