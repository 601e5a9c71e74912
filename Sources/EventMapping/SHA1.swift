import Synchronization

/// SHA-1 (FIPS 180-4), used only for name-based (version 5) UUIDs.
///
/// Not for security: UUIDv5 is defined on SHA-1. One-shot over a contiguous
/// buffer, without heap allocation: the message schedule is an 80-word buffer on
/// the stack, the padding tail a 128-byte stack buffer, and every shift and
/// index in the compression function is unchecked (`&<<`, `&>>`, `& 15`), so
/// the optimiser turns each round into a handful of instructions.
package enum SHA1 {
    /// The five 32-bit state words.
    typealias Words = (UInt32, UInt32, UInt32, UInt32, UInt32)

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

    static func digestBytes(_ words: Words) -> [UInt8] {
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

    static let initialState: Words = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)

    /// The first 64-byte block of a message and the state after it.
    struct FirstBlock: Sendable {
        var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        var state: Words

        static func load(_ base: UnsafeRawPointer) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
            func word(_ index: Int) -> UInt64 { base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self) }
            return (word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7))
        }

        func starts(_ block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) -> Bool {
            let a = self.block
            return (a.0 ^ block.0) | (a.1 ^ block.1) | (a.2 ^ block.2) | (a.3 ^ block.3)
                | (a.4 ^ block.4) | (a.5 ^ block.5) | (a.6 ^ block.6) | (a.7 ^ block.7) == 0
        }
    }

    /// The first block of the last message of more than 64 bytes, and the
    /// state after it. Event-id names of one transaction share their first 64
    /// bytes (namespace, system id, database, commit LSN, often the start of
    /// the ordinal), so most event ids skip one of their two compressions.
    /// A memo only: the digest is the same with or without it.
    private static let lastFirstBlock = Mutex<FirstBlock?>(nil)

    /// The five state words after hashing `message` (with padding).
    static func hash(_ message: UnsafeRawBufferPointer) -> Words {
        var state = initialState
        let count = message.count
        let fullBlocks = count &>> 6
        if let base = message.baseAddress {
            var firstToCompress = 0
            if count > 64 {
                let first = FirstBlock.load(base)
                if let cached = lastFirstBlock.withLock({ $0 }), cached.starts(first) {
                    state = cached.state
                } else {
                    compress(&state, base)
                    let entry = FirstBlock(block: first, state: state)
                    lastFirstBlock.withLock { $0 = entry }
                }
                firstToCompress = 1
            }
            for block in firstToCompress..<fullBlocks { compress(&state, base + block &* 64) }
        }
        // Padding: the rest, 0x80, zeros, then the bit length (big-endian) in one or two blocks.
        let restCount = count &- fullBlocks &* 64
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { tail in
            let tail = tail.baseAddress!
            tail.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
            if restCount > 0, let base = message.baseAddress {
                tail.copyMemory(from: base + fullBlocks &* 64, byteCount: restCount)
            }
            tail.storeBytes(of: 0x80, toByteOffset: restCount, as: UInt8.self)
            let tailLength = restCount < 56 ? 64 : 128
            let bitLength = UInt64(truncatingIfNeeded: count) &* 8
            tail.storeBytes(of: bitLength.bigEndian, toByteOffset: tailLength &- 8, as: UInt64.self)
            compress(&state, UnsafeRawPointer(tail))
            if tailLength == 128 { compress(&state, UnsafeRawPointer(tail + 64)) }
        }
        return state
    }

    /// One application of the compression function to the 64 bytes at `block`.
    @inline(__always)
    static func compress(_ state: inout Words, _ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { schedule in
            let w = schedule.baseAddress!
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t &* 4, as: UInt32.self))
            }
            for t in 16..<80 {
                w[t] = rotl(w[t &- 3] ^ w[t &- 8] ^ w[t &- 14] ^ w[t &- 16], 1)
            }
            var (a, b, c, d, e) = state
            // Five rounds per step with the variables rotated through the
            // arguments instead of shuffled: each round updates `e` and `b` only.
            for t in stride(from: 0, to: 20, by: 5) {
                round(a, &b, c, d, &e, choose(b, c, d) &+ 0x5A82_7999 &+ w[t])
                round(e, &a, b, c, &d, choose(a, b, c) &+ 0x5A82_7999 &+ w[t &+ 1])
                round(d, &e, a, b, &c, choose(e, a, b) &+ 0x5A82_7999 &+ w[t &+ 2])
                round(c, &d, e, a, &b, choose(d, e, a) &+ 0x5A82_7999 &+ w[t &+ 3])
                round(b, &c, d, e, &a, choose(c, d, e) &+ 0x5A82_7999 &+ w[t &+ 4])
            }
            for t in stride(from: 20, to: 40, by: 5) {
                round(a, &b, c, d, &e, (b ^ c ^ d) &+ 0x6ED9_EBA1 &+ w[t])
                round(e, &a, b, c, &d, (a ^ b ^ c) &+ 0x6ED9_EBA1 &+ w[t &+ 1])
                round(d, &e, a, b, &c, (e ^ a ^ b) &+ 0x6ED9_EBA1 &+ w[t &+ 2])
                round(c, &d, e, a, &b, (d ^ e ^ a) &+ 0x6ED9_EBA1 &+ w[t &+ 3])
                round(b, &c, d, e, &a, (c ^ d ^ e) &+ 0x6ED9_EBA1 &+ w[t &+ 4])
            }
            for t in stride(from: 40, to: 60, by: 5) {
                round(a, &b, c, d, &e, majority(b, c, d) &+ 0x8F1B_BCDC &+ w[t])
                round(e, &a, b, c, &d, majority(a, b, c) &+ 0x8F1B_BCDC &+ w[t &+ 1])
                round(d, &e, a, b, &c, majority(e, a, b) &+ 0x8F1B_BCDC &+ w[t &+ 2])
                round(c, &d, e, a, &b, majority(d, e, a) &+ 0x8F1B_BCDC &+ w[t &+ 3])
                round(b, &c, d, e, &a, majority(c, d, e) &+ 0x8F1B_BCDC &+ w[t &+ 4])
            }
            for t in stride(from: 60, to: 80, by: 5) {
                round(a, &b, c, d, &e, (b ^ c ^ d) &+ 0xCA62_C1D6 &+ w[t])
                round(e, &a, b, c, &d, (a ^ b ^ c) &+ 0xCA62_C1D6 &+ w[t &+ 1])
                round(d, &e, a, b, &c, (e ^ a ^ b) &+ 0xCA62_C1D6 &+ w[t &+ 2])
                round(c, &d, e, a, &b, (d ^ e ^ a) &+ 0xCA62_C1D6 &+ w[t &+ 3])
                round(b, &c, d, e, &a, (c ^ d ^ e) &+ 0xCA62_C1D6 &+ w[t &+ 4])
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
        }
    }

    /// One round: `e += rotl(a, 5) + f(b, c, d) + k + w[t]` (`fkw` is the last
    /// three), `b = rotl(b, 30)`; the caller renames the variables for the next.
    @inline(__always)
    private static func round(_ a: UInt32, _ b: inout UInt32, _ c: UInt32, _ d: UInt32, _ e: inout UInt32, _ fkw: UInt32) {
        e = e &+ rotl(a, 5) &+ fkw
        b = rotl(b, 30)
    }

    /// Rounds 0–19: `(b & c) | (~b & d)`.
    @inline(__always)
    private static func choose(_ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 { d ^ (b & (c ^ d)) }

    /// Rounds 40–59: `(b & c) | (b & d) | (c & d)`.
    @inline(__always)
    private static func majority(_ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 { (b & c) | (d & (b | c)) }

    @inline(__always)
    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x &<< n | x &>> (32 &- n) }
}
