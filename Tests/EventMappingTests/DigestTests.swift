@testable import EventMapping
import PostgresReplication
import Testing

@Suite("SHA-1, UUIDv5 and Base64")
struct DigestTests {
    @Test("SHA-1 matches the FIPS 180 test vectors", arguments: [
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
    ])
    func sha1Vectors(input: String, expected: String) {
        #expect(SHA1.hexDigest(Array(input.utf8)) == expected)
    }

    @Test func sha1OfOneMillionA() {
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test("SHA-1 at every padding boundary agrees with a bit-by-bit reference length", arguments: [55, 56, 57, 63, 64, 65, 119, 120])
    func sha1PaddingBoundaries(length: Int) {
        // Known digests of `length` bytes of 0x61 ('a'), computed with Python's hashlib.
        let known: [Int: String] = [
            55: "c1c8bbdc22796e28c0e15163d20899b65621d65a",
            56: "c2db330f6083854c99d4b5bfb6e8f29f201be699",
            57: "f08f24908d682555111be7ff6f004e78283d989a",
            63: "03f09f5b158a7a8cdad920bddc29b81c18a551f5",
            64: "0098ba824b5c16427bd7a1122a5a442a25ec644d",
            65: "11655326c708d70319be2610e8a57d9a5b959d3b",
            119: "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56",
            120: "f34c1488385346a55709ba056ddd08280dd4c6d6",
        ]
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: length)) == known[length])
    }

    @Test("SHA-1 of messages sharing their first block (the memoised state is reused) matches the known digests")
    func sha1SharedFirstBlock() {
        let known = [65: "11655326c708d70319be2610e8a57d9a5b959d3b", 119: "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56",
                     120: "f34c1488385346a55709ba056ddd08280dd4c6d6"]
        for length in [65, 119, 120, 119, 65, 120] {
            #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: length)) == known[length])
        }
        // Same first 64 bytes, different tails: different digests.
        let head = [UInt8](repeating: UInt8(ascii: "a"), count: 64)
        #expect(SHA1.hexDigest(head + [UInt8(ascii: "a")]) == known[65])
        #expect(SHA1.hexDigest(head + [UInt8(ascii: "b")]) != known[65])
        #expect(SHA1.hexDigest(head + [UInt8(ascii: "a")]) == known[65])
    }

    @Test func uuidV5MatchesRFCExample() {
        #expect(UUIDv5.make(namespace: UUIDv5.dnsNamespace, name: "python.org") == "886313e1-3b8a-5372-9b90-0c9aee199e5d")
    }

    @Test func eventIDsMatchIndependentlyComputedValues() {
        // Expected values from Python's uuid.uuid5 with the WalBridge namespace.
        #expect(eventID(systemID: Fixtures.systemID, database: "auth", commitLSN: LSN(0x16B3748), ordinal: 0)
            == "9d866503-06e0-56ac-af12-f585766ec7b0")
        #expect(eventID(systemID: Fixtures.systemID, database: "auth", commitLSN: LSN(0x16B3748), ordinal: 1)
            == "c2254b69-b3ee-5443-a42a-814ee1f58560")
        #expect(eventID(systemID: Fixtures.systemID, database: "auth", commitLSN: LSN(0x1A_FF00_000A), ordinal: 3)
            == "38c7842d-02e2-5c15-b544-e2a5881625e4")
        #expect(messageEventID(systemID: Fixtures.systemID, database: "auth", lsn: LSN(0x16B3748), messageIndex: 0)
            == "1de68f88-d465-5cee-9fb5-bc6de7340298")
        #expect(messageEventID(systemID: Fixtures.systemID, database: "auth", lsn: LSN(0x16B3748), messageIndex: nil)
            == "2be71a52-9389-5398-8caa-6d6523d26b43")
    }

    @Test func mapperEventIDAgreesWithFreeFunction() throws {
        let mapper = try Fixtures.mapper()
        for (lsn, ordinal) in [(LSN(0x16B3748), 0), (LSN(0x1A_FF00_000A), 3), (LSN(0xFFFF_FFFF_0000_0000), 12345), (LSN.zero, 7)] {
            #expect(mapper.eventID(commitLSN: lsn, ordinal: ordinal)
                == eventID(systemID: Fixtures.systemID, database: "auth", commitLSN: lsn, ordinal: ordinal))
        }
    }

    @Test("Base64 matches RFC 4648 §10", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func base64Vectors(input: String, expected: String) {
        #expect(Base64.encode(Array(input.utf8)) == expected)
    }

    @Test func base64UsesPlusAndSlash() {
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
        #expect(Base64.encode([0x00, 0x10, 0x83, 0x10, 0x51, 0x87]) == "ABCDEFGH")
    }
}
