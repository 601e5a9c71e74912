import Testing
import PostgresReplication
import SeededRandom

@Suite("pgoutput: malformed input")
struct PgOutputMalformedTests {
    let decoder = PgOutputDecoder()

    static var validMessages: [[UInt8]] {
        RealStream.all.map(hexBytes) + [
            Fixture("O").lsn(1).cstring("origin").bytes,
            Fixture("U").uint32(9).char("O").tuple([.text("1"), .null]).char("N").tuple([.binary([1, 2]), .unchangedToast]).bytes,
            Fixture("M").byte(1).lsn(99).cstring("x").int32(2).raw([1, 2]).bytes,
        ]
    }

    @Test func everyTruncationOfEveryValidMessageThrows() {
        for message in Self.validMessages {
            for length in 0..<message.count {
                let prefix = Array(message.prefix(length))
                #expect(throws: PgOutputDecodingError.self, "prefix \(length) of \(message.count)") {
                    try decoder.decode(prefix)
                }
                // Also through the raw-buffer path.
                _ = prefix.withUnsafeBytes { buffer in
                    #expect(throws: PgOutputDecodingError.self) { try decoder.decode(buffer) }
                }
            }
        }
    }

    @Test func truncationErrorSaysWhereAndWhat() throws {
        let relation = hexBytes(RealStream.relationUsers)
        // id (4) + "public\0" (7) + "users\0" (6) + identity (1) = byte 19 holds the column count.
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode(Array(relation.prefix(20))) }
        #expect(error?.code == .truncated(needed: 2, available: 1))
        #expect(error?.offset == 19)
        #expect(error?.description == "truncated Relation message: needed 2 bytes at offset 19, 1 left")
    }

    @Test func emptyInput() {
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode([UInt8]()) }
        #expect(error?.code == .empty)
    }

    @Test func unknownMessageTypes() {
        // Every letter pgoutput uses (protocols 1 to 4) is known; these are not.
        for type in [UInt8(ascii: "X"), UInt8(ascii: "Z"), UInt8(ascii: "s"), UInt8(ascii: "a"), 0, 0xFF] {
            let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode([type, 0, 0, 0, 0]) }
            #expect(error?.code == .unknownMessageType(type))
            #expect(error?.offset == 0)
        }
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode([UInt8(ascii: "X")]) }
        #expect(error?.description == "unknown pgoutput message type 'X' (0x58) at offset 0")
        let control = #expect(throws: PgOutputDecodingError.self) { try decoder.decode([0x01]) }
        #expect(control?.description == "unknown pgoutput message type 0x01 at offset 0")
    }

    @Test func unknownTupleColumnKind() {
        let bytes = Fixture("I").uint32(1).char("N").tuple([.text("a"), .kind(UInt8(ascii: "z"))]).bytes
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode(bytes) }
        #expect(error?.code == .unknownTupleColumnKind(UInt8(ascii: "z")))
        #expect(error?.offset == 14)
        #expect(error?.description == "unknown tuple column kind 'z' (0x7A) at offset 14 in Insert message")
    }

    @Test func unknownReplicaIdentity() {
        let bytes = Fixture("R").uint32(1).cstring("s").cstring("t").char("x").int16(0).bytes
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode(bytes) }
        #expect(error?.code == .unknownReplicaIdentity(UInt8(ascii: "x")))
        #expect(error?.offset == 9)
    }

    @Test func wrongTupleMarkers() {
        let insert = Fixture("I").uint32(1).char("K").tuple([.null]).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(insert) })?.code
            == .unexpectedMarker(found: UInt8(ascii: "K"), expected: "'N'"))
        let update = Fixture("U").uint32(1).char("X").tuple([.null]).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(update) })?.code
            == .unexpectedMarker(found: UInt8(ascii: "X"), expected: "'K', 'O' or 'N'"))
        let updateMissingNew = Fixture("U").uint32(1).char("K").tuple([.null]).char("K").tuple([.null]).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(updateMissingNew) })?.offset == 9)
        let delete = Fixture("D").uint32(1).char("N").tuple([.null]).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(delete) })?.code
            == .unexpectedMarker(found: UInt8(ascii: "N"), expected: "'K' or 'O'"))
    }

    @Test func negativeLengthsAndCounts() {
        let column = Fixture("I").uint32(1).char("N").int16(1).char("t").int32(-1).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(column) })?.code == .negativeLength(-1))
        let columns = Fixture("I").uint32(1).char("N").int16(-2).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(columns) })?.code == .negativeLength(-2))
        let truncate = Fixture("T").int32(Int32.min).byte(0).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(truncate) })?.code == .negativeLength(Int64(Int32.min)))
        let message = Fixture("M").byte(0).lsn(1).cstring("p").int32(-5).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(message) })?.code == .negativeLength(-5))
    }

    @Test func hugeDeclaredLengthsThrowInsteadOfAllocating() {
        let column = Fixture("I").uint32(1).char("N").int16(1).char("t").int32(Int32.max).raw([1, 2]).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(column) })?.code
            == .truncated(needed: Int(Int32.max), available: 2))
        let truncate = Fixture("T").int32(Int32.max).byte(0).uint32(1).bytes
        #expect(throws: PgOutputDecodingError.self) { try decoder.decode(truncate) }
        let relation = Fixture("R").uint32(1).cstring("s").cstring("t").char("d").int16(Int16.max).bytes
        #expect(throws: PgOutputDecodingError.self) { try decoder.decode(relation) }
    }

    @Test func unterminatedString() {
        let bytes = Fixture("Y").uint32(1).cstring("public").raw(Array("mood".utf8)).bytes
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode(bytes) }
        #expect(error?.code == .unterminatedString)
        #expect(error?.offset == 12)
        #expect(error?.description == "unterminated string at offset 12 in Type message")
    }

    @Test func trailingBytes() {
        let bytes = hexBytes(RealStream.commit729) + [0]
        let error = #expect(throws: PgOutputDecodingError.self) { try decoder.decode(bytes) }
        #expect(error?.code == .trailingBytes(count: 1))
        #expect(error?.offset == 26)
    }

    @Test func randomGarbageNeverTraps() {
        var generator = SplitMix64(seed: 0x5EED)
        let types = Array("BCORYIUDTMX".utf8)
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 48)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty { bytes[0] = types[Int(generator.next() % UInt64(types.count))] }
            if (try? decoder.decode(bytes)) != nil { decoded += 1 }
        }
        // Mostly rejected; reaching here without a trap is the point.
        #expect(decoded < 20_000)
    }
}
