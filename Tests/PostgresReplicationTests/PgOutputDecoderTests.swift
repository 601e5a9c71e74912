import Testing
import PostgresReplication

@Suite("pgoutput: decoding built fixtures")
struct PgOutputDecoderTests {
    let decoder = PgOutputDecoder()

    @Test func beginConvertsThePostgresEpoch() throws {
        let bytes = Fixture("B").lsn(0x1_0000_0010).int64(0).uint32(UInt32.max).bytes
        #expect(try decoder.decode(bytes) == .begin(finalLSN: LSN(0x1_0000_0010), commitTimeMicros: 946_684_800_000_000, xid: UInt32.max))
    }

    @Test func commitKeepsFlags() throws {
        let bytes = Fixture("C").byte(0).lsn(10).lsn(20).int64(-946_684_800_000_000).bytes
        #expect(try decoder.decode(bytes) == .commit(flags: 0, commitLSN: LSN(10), endLSN: LSN(20), commitTimeMicros: 0))
    }

    @Test func origin() throws {
        let bytes = Fixture("O").lsn(0xABCDEF).cstring("upstream-1").bytes
        #expect(try decoder.decode(bytes) == .origin(commitLSN: LSN(0xABCDEF), name: "upstream-1"))
    }

    @Test(arguments: [("d", Relation.ReplicaIdentity.default), ("n", .nothing), ("f", .full), ("i", .index)] as [(Unicode.Scalar, Relation.ReplicaIdentity)])
    func relationReplicaIdentity(_ byte: Unicode.Scalar, _ identity: Relation.ReplicaIdentity) throws {
        let bytes = Fixture("R").uint32(7).cstring("").cstring("pg_thing").char(byte).int16(0).bytes
        guard case let .relation(message) = try decoder.decode(bytes) else { Issue.record("not a Relation"); return }
        #expect(message.replicaIdentity == identity)
        #expect(message.columns.isEmpty)
        #expect(message.namespace == "")
        #expect(message.relation.schema == "pg_catalog")
        #expect(message.relation.replicaIdentity == identity)
    }

    @Test func relationColumns() throws {
        let bytes = Fixture("R").uint32(16389).cstring("auth").cstring("users").char("i").int16(3)
            .byte(1).cstring("id").uint32(23).int32(-1)
            .byte(0).cstring("näme").uint32(1043).int32(68)
            .byte(1).cstring("tenant").uint32(2950).int32(-1)
            .bytes
        guard case let .relation(message) = try decoder.decode(bytes) else { Issue.record("not a Relation"); return }
        #expect(message.relation == Relation(id: 16389, schema: "auth", name: "users", replicaIdentity: .index, columns: [
            .init(name: "id", typeOID: 23, typeModifier: -1, isKey: true),
            .init(name: "näme", typeOID: 1043, typeModifier: 68, isKey: false),
            .init(name: "tenant", typeOID: 2950, typeModifier: -1, isKey: true),
        ]))
    }

    @Test func typeMessage() throws {
        let bytes = Fixture("Y").uint32(16500).cstring("public").cstring("_mood").bytes
        #expect(try decoder.decode(bytes) == .type(TypeMessage(oid: 16500, namespace: "public", name: "_mood")))
    }

    @Test func insertWithEveryTupleKind() throws {
        let bytes = Fixture("I").uint32(5).char("N")
            .tuple([.null, .unchangedToast, .text("héllo 🎉"), .binary([0, 1, 255]), .text("")]).bytes
        guard case let .insert(relationID, new) = try decoder.decode(bytes) else { Issue.record("not an Insert"); return }
        #expect(relationID == 5)
        #expect(new.count == 5)
        #expect(new.columns[0] == .null)
        #expect(new.columns[1] == .unchangedToast)
        #expect(textOf(new.columns[2]) == "héllo 🎉")
        #expect(new.columns[3] == .binary([0, 1, 255][...]))
        #expect(textOf(new.columns[4]) == "")
    }

    @Test func tupleColumnsAreSlicesOfTheCallersArray() throws {
        let bytes = Fixture("I").uint32(5).char("N").tuple([.text("abc")]).bytes
        guard case let .insert(_, new) = try decoder.decode(bytes), case let .text(slice) = new.columns[0] else {
            Issue.record("not a text column"); return
        }
        // The slice indexes the message buffer: 1 type + 4 id + 1 'N' + 2 count + 1 kind + 4 length.
        #expect(slice.startIndex == 13)
        #expect(slice.endIndex == bytes.count)
        slice.withUnsafeBufferPointer { sliceBuffer in
            bytes.withUnsafeBufferPointer { messageBuffer in
                #expect(sliceBuffer.baseAddress == messageBuffer.baseAddress.map { $0 + 13 })
            }
        }
    }

    @Test func updateWithoutOldTuple() throws {
        let bytes = Fixture("U").uint32(9).char("N").tuple([.text("1"), .unchangedToast]).bytes
        #expect(try decoder.decode(bytes) == .update(relationID: 9, old: nil, oldKind: nil,
                                                     new: TupleData(columns: [.text([0x31]), .unchangedToast])))
    }

    @Test(arguments: [("K", OldRowKind.key), ("O", .full)] as [(Unicode.Scalar, OldRowKind)])
    func updateWithOldTuple(_ marker: Unicode.Scalar, _ kind: OldRowKind) throws {
        let bytes = Fixture("U").uint32(9).char(marker).tuple([.text("1"), .null]).char("N").tuple([.text("2"), .text("x")]).bytes
        #expect(try decoder.decode(bytes) == .update(
            relationID: 9, old: TupleData(columns: [.text([0x31]), .null]), oldKind: kind,
            new: TupleData(columns: [.text([0x32]), .text([0x78])])))
    }

    @Test(arguments: [("K", OldRowKind.key), ("O", .full)] as [(Unicode.Scalar, OldRowKind)])
    func delete(_ marker: Unicode.Scalar, _ kind: OldRowKind) throws {
        let bytes = Fixture("D").uint32(3).char(marker).tuple([.text("7"), .null]).bytes
        #expect(try decoder.decode(bytes) == .delete(relationID: 3, old: TupleData(columns: [.text([0x37]), .null]), oldKind: kind))
    }

    @Test(arguments: [(UInt8(0), false, false), (1, true, false), (2, false, true), (3, true, true)])
    func truncateOptions(_ options: UInt8, _ cascade: Bool, _ restart: Bool) throws {
        let bytes = Fixture("T").int32(3).byte(options).uint32(1).uint32(2).uint32(UInt32.max).bytes
        #expect(try decoder.decode(bytes) == .truncate(relationIDs: [1, 2, UInt32.max], cascade: cascade, restartIdentity: restart))
    }

    @Test func truncateOfNoRelations() throws {
        #expect(try decoder.decode(Fixture("T").int32(0).byte(0).bytes) == .truncate(relationIDs: [], cascade: false, restartIdentity: false))
    }

    @Test func logicalMessageWithBinaryAndEmptyContent() throws {
        let withContent = Fixture("M").byte(1).lsn(99).cstring("wb:outbox").int32(4).raw([0, 0xFF, 0x0A, 0x80]).bytes
        #expect(try decoder.decode(withContent) == .message(LogicalMessage(transactional: true, lsn: LSN(99), prefix: "wb:outbox", content: [0, 0xFF, 0x0A, 0x80])))
        let empty = Fixture("M").byte(0).lsn(1).cstring("p").int32(0).bytes
        #expect(try decoder.decode(empty) == .message(LogicalMessage(transactional: false, lsn: LSN(1), prefix: "p", content: [])))
    }

    @Test func invalidUTF8InStringsIsReplacedNotFatal() throws {
        let bytes = Fixture("O").lsn(1).raw([0x61, 0xFF, 0xC3, 0x00]).bytes
        guard case let .origin(_, name) = try decoder.decode(bytes) else { Issue.record("not an Origin"); return }
        #expect(name == "a\u{FFFD}\u{FFFD}")
    }
}
