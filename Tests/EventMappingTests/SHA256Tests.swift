@testable import EventMapping
import Foundation
import SeededRandom
import Testing

@Suite("SHA-256 and HMAC-SHA256")
struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    @Test("SHA-256 matches the FIPS 180 test vectors", arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256Vectors(input: String, expected: String) {
        #expect(Self.hex(SHA256.digest(Array(input.utf8))) == expected)
    }

    @Test func sha256OfOneMillionAInUnevenPieces() {
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Self.hex(SHA256.digest(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The same message fed in pieces that straddle block boundaries.
        var hasher = SHA256()
        var offset = 0
        var size = 1
        while offset < million.count {
            let end = min(offset + size, million.count)
            hasher.update(Array(million[offset..<end]))
            offset = end
            size = size % 150 + 7
        }
        #expect(Self.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// RFC 4231, test cases 1-4, 6 and 7 (case 5 is truncated output, which WalBridge never uses).
    @Test("HMAC-SHA256 matches the RFC 4231 test cases", arguments: [
        (String(repeating: "0b", count: 20), Self.hex(Array("Hi There".utf8)),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Self.hex(Array("Jefe".utf8)), Self.hex(Array("what do ya want for nothing?".utf8)),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (String(repeating: "aa", count: 20), String(repeating: "dd", count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("0102030405060708090a0b0c0d0e0f10111213141516171819", String(repeating: "cd", count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (String(repeating: "aa", count: 131), Self.hex(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (String(repeating: "aa", count: 131), Self.hex(Array(("This is a test using a larger than block-size key and a larger than block-size data. "
            + "The key needs to be hashed before being used by the HMAC algorithm.").utf8)),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func hmacVectors(key: String, message: String, expected: String) {
        let hmac = HMACSHA256(key: Self.bytes(hex: key))
        #expect(Self.hex(hmac.authenticationCode(for: Self.bytes(hex: message))) == expected)
        // One keyed value serves many messages: the second code is the same as the first.
        #expect(Self.hex(hmac.authenticationCode(for: Self.bytes(hex: message))) == expected)
    }

    /// 400 random keys and messages, with lengths around every block edge, against
    /// Python's `hmac` and `hashlib` (OpenSSL's SHA-256 underneath), in one process.
    @Test("SHA-256 and HMAC-SHA256 agree with Python's hashlib and hmac on random keys and messages")
    func agreesWithPython() throws {
        var random = SplitMix64(seed: 20_261_202)
        var cases: [(key: [UInt8], message: [UInt8])] = []
        for _ in 0..<400 {
            let key = (0..<random.int(0...200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let message = (0..<random.int(0...300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            cases.append((key, message))
        }
        let script = """
            import hashlib, hmac, sys
            for line in sys.stdin:
                key, message = (bytes.fromhex(part) for part in line.rstrip("\\n").split(" "))
                print(hashlib.sha256(message).hexdigest(), hmac.new(key, message, hashlib.sha256).hexdigest())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let lines = cases.map { "\(Self.hex($0.key)) \(Self.hex($0.message))\n" }.joined()
        try input.fileHandleForWriting.write(contentsOf: Data(lines.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 is needed for this test")
        let expected = String(decoding: data, as: UTF8.self).split(separator: "\n")
        try #require(expected.count == cases.count)
        for (index, (key, message)) in cases.enumerated() {
            let ours = "\(Self.hex(SHA256.digest(message))) \(Self.hex(HMACSHA256(key: key).authenticationCode(for: message)))"
            #expect(ours == String(expected[index]), "key \(key.count) bytes, message \(message.count) bytes")
        }
    }
}
