import Testing
import PostgresReplication
import SeededRandom

private typealias F = StreamFixtures

/// The streaming (protocol 2), two-phase (protocol 3) and protocol 4 messages:
/// captured bytes decoded field by field, the same layouts built by hand from
/// the documentation, and every truncation of each refused with a typed error.
@Suite("pgoutput: protocols 2 to 4")
struct PgOutputProtocolVersionsTests {
    let decoder = PgOutputDecoder()
    let parallel = PgOutputDecoder(protocolVersion: 4, parallelStreaming: true)

    @Test func streamControlMessages() throws {
        #expect(try decoder.decode(hexBytes(F.streamStartFirst)) == .streamStart(xid: 33700, firstSegment: true))
        #expect(try decoder.decode(hexBytes(F.streamStartNext)) == .streamStart(xid: 33700, firstSegment: false))
        #expect(try decoder.decode(hexBytes(F.streamStop)) == .streamStop)
        #expect(try decoder.decode(hexBytes(F.streamAbortSubtransaction))
            == .streamAbort(xid: 33700, subtransactionXID: 33701, abortLSN: nil, abortTimeMicros: nil))
        #expect(try decoder.decode(hexBytes(F.streamCommit)) == .streamCommit(
            xid: 33700, flags: 0, commitLSN: LSN("0/47B60D8")!, endLSN: LSN("0/47B6110")!,
            commitTimeMicros: F.unixMicros(0x0003_049B_FD57_0659)))
    }

    @Test func streamAbortOfProtocol4CarriesAbortLSNAndTime() throws {
        let expected = PgOutputMessage.streamAbort(xid: 780, subtransactionXID: 781, abortLSN: LSN("0/3477A30")!,
                                                    abortTimeMicros: F.unixMicros(0x0003_049B_FEDA_E4A3))
        #expect(try parallel.decode(hexBytes(F.streamAbortParallel)) == expected)
        // A protocol 1 session accepts the long form too (it skips the message either way)…
        #expect(try decoder.decode(hexBytes(F.streamAbortParallel)) == expected)
        // …but a protocol 4 parallel session requires it.
        let short = hexBytes(F.streamAbortSubtransaction)
        let error = #expect(throws: PgOutputDecodingError.self) { try parallel.decode(short) }
        #expect(error?.code == .truncated(needed: 8, available: 0))
        #expect(error?.offset == 9)
        #expect(error?.context == "Stream Abort message")
        // Neither form: trailing bytes.
        let odd = short + [0, 0, 0, 0]
        #expect((#expect(throws: PgOutputDecodingError.self) { try decoder.decode(odd) })?.code == .trailingBytes(count: 4))
        // Protocol 4 without parallel streaming sends the short form.
        #expect(!PgOutputDecoder(protocolVersion: 4).streamAbortHasAbortInfo)
        #expect(!PgOutputDecoder(protocolVersion: 2, parallelStreaming: true).streamAbortHasAbortInfo)
        #expect(parallel.streamAbortHasAbortInfo)
    }

    @Test func twoPhaseMessages() throws {
        let g1 = PreparedTransaction(prepareLSN: LSN("0/33B83D0")!, endLSN: LSN("0/33B84C8")!,
                                     prepareTimeMicros: F.unixMicros(0x0003_049B_FEDA_B852), xid: 777, gid: "g1")
        #expect(try decoder.decode(hexBytes(F.beginPrepare)) == .beginPrepare(g1))
        #expect(try decoder.decode(hexBytes(F.prepare)) == .prepare(flags: 0, g1))
        #expect(try decoder.decode(hexBytes(F.commitPrepared)) == .commitPrepared(
            flags: 0, commitLSN: LSN("0/33B84C8")!, endLSN: LSN("0/33B8500")!,
            commitTimeMicros: F.unixMicros(0x0003_049B_FEDA_B8FB), xid: 777, gid: "g1"))
        #expect(try decoder.decode(hexBytes(F.rollbackPrepared)) == .rollbackPrepared(
            flags: 0, prepareEndLSN: LSN("0/33B8678")!, rollbackEndLSN: LSN("0/33B86B0")!,
            prepareTimeMicros: F.unixMicros(0x0003_049B_FEDA_B9D1), rollbackTimeMicros: F.unixMicros(0x0003_049B_FEDA_BA0B),
            xid: 778, gid: "g2"))
        #expect(try decoder.decode(hexBytes(F.streamPrepare)) == .streamPrepare(flags: 0, PreparedTransaction(
            prepareLSN: LSN("0/3417F90")!, endLSN: LSN("0/34180A0")!,
            prepareTimeMicros: F.unixMicros(0x0003_049B_FEDA_D332), xid: 779, gid: "g3")))
        #expect(try parallel.decode(hexBytes(F.streamCommitParallel)) == .streamCommit(
            xid: 780, flags: 0, commitLSN: LSN("0/3477AB8")!, endLSN: LSN("0/3477AF0")!,
            commitTimeMicros: F.unixMicros(0x0003_049B_FEDA_E525)))
    }

    @Test func messagesInsideAStreamBlockCarryTheirXID() throws {
        func streamed(_ hex: String) throws -> (UInt32, PgOutputMessage) {
            guard case let .streamed(xid, inner) = try decoder.decode(hexBytes(hex), inStreamBlock: true) else {
                throw Failure("\(hex) is not a streamed message")
            }
            return (xid, inner)
        }
        let columns: [Relation.Column] = [.init(name: "id", typeOID: 23, typeModifier: -1, isKey: true),
                                          .init(name: "v", typeOID: 25, typeModifier: -1, isKey: false)]
        let relationS = RelationMessage(id: 16441, namespace: "public", name: "s", replicaIdentity: .default, columns: columns)
        #expect(try streamed(F.streamedRelation) == (33700, .relation(relationS)))
        #expect(try streamed(F.streamedRelationSubtransaction) == (33702, .relation(relationS)))
        #expect(try streamed(F.streamedType) == (33710, .type(TypeMessage(oid: 16451, namespace: "public", name: "mood"))))

        let (insertXID, insert) = try streamed(F.streamedInsert)
        guard case let .insert(relationID, new) = insert else { Issue.record("not an insert"); return }
        #expect(insertXID == 33700 && relationID == 16441 && new.columns.map(textOf) == ["1", "a"])

        guard case let (33710, .insert(16455, enumRow)) = try streamed(F.streamedInsertEnum) else { Issue.record("enum insert"); return }
        #expect(enumRow.columns.map(textOf) == ["1", "happy"])
        guard case let (33710, .update(16441, nil, nil, updated)) = try streamed(F.streamedUpdate) else { Issue.record("update"); return }
        #expect(updated.columns.map(textOf) == ["20000", "q"])
        guard case let (33710, .delete(16441, key, .key)) = try streamed(F.streamedDelete) else { Issue.record("delete"); return }
        #expect(key.columns == [.text(Array("20001".utf8)[...]), .null])
        #expect(try streamed(F.streamedMessage) == (33710, .message(LogicalMessage(
            transactional: true, lsn: LSN("0/4886B88")!, prefix: "wb", content: Array("hi".utf8)))))
        #expect(try streamed(F.streamedTruncate) == (33710, .truncate(relationIDs: [16460], cascade: false, restartIdentity: false)))

        // The raw-buffer path reads the xid too.
        let bytes = hexBytes(F.streamedDelete)
        let viaBuffer = try bytes.withUnsafeBytes { buffer in try decoder.decode(buffer, inStreamBlock: true) }
        #expect(viaBuffer == (try decoder.decode(bytes, inStreamBlock: true)))
        #expect(viaBuffer.isStreamed && viaBuffer.kindName == "Delete")
    }

    @Test func streamControlMessagesIgnoreTheBlockFlag() throws {
        // Stream Start/Stop/Commit/Abort and the two-phase messages never carry a leading xid.
        for hex in F.outsideBlock {
            #expect(try decoder.decode(hexBytes(hex), inStreamBlock: true) == (try decoder.decode(hexBytes(hex))))
        }
        // Begin, Commit and Origin do not either (they are never sent inside a block).
        let begin = hexBytes(RealStream.begin729)
        #expect(try decoder.decode(begin, inStreamBlock: true) == (try decoder.decode(begin)))
    }

    /// The documented layouts, built field by field, give the captured bytes.
    @Test func handBuiltLayoutsMatchTheCapturedBytes() {
        let pgTime: Int64 = 0x0003_049B_FD57_0659
        let cases: [(Fixture, String)] = [
            (Fixture("S").uint32(33700).byte(1), F.streamStartFirst),
            (Fixture("E"), F.streamStop),
            (Fixture("c").uint32(33700).byte(0).lsn(0x47B_60D8).lsn(0x47B_6110).int64(pgTime), F.streamCommit),
            (Fixture("A").uint32(33700).uint32(33701), F.streamAbortSubtransaction),
            (Fixture("A").uint32(780).uint32(781).lsn(0x347_7A30).int64(0x0003_049B_FEDA_E4A3), F.streamAbortParallel),
            (Fixture("b").lsn(0x33B_83D0).lsn(0x33B_84C8).int64(0x0003_049B_FEDA_B852).uint32(777).cstring("g1"), F.beginPrepare),
            (Fixture("P").byte(0).lsn(0x33B_83D0).lsn(0x33B_84C8).int64(0x0003_049B_FEDA_B852).uint32(777).cstring("g1"), F.prepare),
            (Fixture("K").byte(0).lsn(0x33B_84C8).lsn(0x33B_8500).int64(0x0003_049B_FEDA_B8FB).uint32(777).cstring("g1"), F.commitPrepared),
            (Fixture("r").byte(0).lsn(0x33B_8678).lsn(0x33B_86B0).int64(0x0003_049B_FEDA_B9D1).int64(0x0003_049B_FEDA_BA0B)
                .uint32(778).cstring("g2"), F.rollbackPrepared),
            (Fixture("p").byte(0).lsn(0x341_7F90).lsn(0x341_80A0).int64(0x0003_049B_FEDA_D332).uint32(779).cstring("g3"), F.streamPrepare),
            (Fixture("I").uint32(33700).uint32(16441).char("N").tuple([.text("1"), .text("a")]), F.streamedInsert),
            (Fixture("D").uint32(33710).uint32(16441).char("K").tuple([.text("20001"), .null]), F.streamedDelete),
            (Fixture("T").uint32(33710).int32(1).byte(0).uint32(16460), F.streamedTruncate),
            (Fixture("Y").uint32(33710).uint32(16451).cstring("public").cstring("mood"), F.streamedType),
            (Fixture("M").uint32(33710).byte(1).lsn(0x488_6B88).cstring("wb").int32(2).raw(Array("hi".utf8)), F.streamedMessage),
        ]
        for (built, captured) in cases {
            #expect(built.bytes == hexBytes(captured), "\(captured)")
        }
    }

    @Test func everyTruncationThrows() {
        func check(_ message: [UInt8], inStreamBlock: Bool, _ decoder: PgOutputDecoder) {
            for length in 0..<message.count {
                let prefix = Array(message.prefix(length))
                #expect(throws: PgOutputDecodingError.self, "prefix \(length) of \(message.count)") {
                    try decoder.decode(prefix, inStreamBlock: inStreamBlock)
                }
                _ = prefix.withUnsafeBytes { buffer in
                    #expect(throws: PgOutputDecodingError.self) { try decoder.decode(buffer, inStreamBlock: inStreamBlock) }
                }
            }
        }
        for hex in F.outsideBlock where hex != F.streamAbortParallel {
            check(hexBytes(hex), inStreamBlock: false, decoder)
        }
        // The long Stream Abort is only complete for a session that expects it
        // (a protocol 1 session accepts its 9-byte prefix as the short form).
        check(hexBytes(F.streamAbortParallel), inStreamBlock: false, parallel)
        for hex in F.insideBlock {
            check(hexBytes(hex), inStreamBlock: true, decoder)
        }
    }

    @Test func truncatedStreamedMessageSaysWhichMessage() {
        // 'I' and two bytes of the xid.
        let error = #expect(throws: PgOutputDecodingError.self) {
            try decoder.decode(Array(hexBytes(F.streamedInsert).prefix(3)), inStreamBlock: true)
        }
        #expect(error?.description == "truncated Insert message: needed 4 bytes at offset 1, 2 left")
        let gid = #expect(throws: PgOutputDecodingError.self) {
            try decoder.decode(Array(hexBytes(F.commitPrepared).dropLast()))
        }
        #expect(gid?.code == .unterminatedString)
        #expect(gid?.context == "Commit Prepared message")
    }

    @Test func randomGarbageOfTheNewTypesNeverTraps() {
        var generator = SplitMix64(seed: 0xC0FFEE)
        let types = Array("SEcAbPKrpIUDTMRY".utf8)
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 40)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty { bytes[0] = types[Int(generator.next() % UInt64(types.count))] }
            if (try? decoder.decode(bytes, inStreamBlock: generator.next() & 1 == 0)) != nil { decoded += 1 }
            if (try? parallel.decode(bytes)) != nil { decoded += 1 }
        }
        // Some random inputs are valid (a Stream Stop, a short Stream Abort); most are not.
        #expect(decoded > 0 && decoded < 20_000)
    }

    @Test func kindNames() throws {
        let names = try F.outsideBlock.map { try decoder.decode(hexBytes($0)).kindName }
        #expect(names == ["Stream Start", "Stream Stop", "Stream Start", "Stream Abort", "Stream Commit", "Begin Prepare",
                          "Prepare", "Commit Prepared", "Rollback Prepared", "Stream Prepare", "Stream Abort", "Stream Commit"])
    }
}

/// A test failure with a message.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
