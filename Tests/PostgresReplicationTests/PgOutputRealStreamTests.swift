import Testing
import PostgresReplication

@Suite("pgoutput: messages captured from PostgreSQL 15")
struct PgOutputRealStreamTests {
    let decoder = PgOutputDecoder()

    func decode(_ hex: String) throws -> PgOutputMessage {
        try decoder.decode(hexBytes(hex))
    }

    @Test func beginAndCommit() throws {
        guard case let .begin(finalLSN, time, xid) = try decode(RealStream.begin729) else {
            Issue.record("not a Begin"); return
        }
        #expect(finalLSN == LSN("0/1531648"))
        #expect(time == RealStream.commitTime729UnixMicros)
        #expect(xid == 729)

        guard case let .commit(flags, commitLSN, endLSN, commitTime) = try decode(RealStream.commit729) else {
            Issue.record("not a Commit"); return
        }
        #expect(flags == 0)
        #expect(commitLSN == LSN("0/1531648"))
        #expect(endLSN == LSN("0/1531678"))
        #expect(commitTime == RealStream.commitTime729UnixMicros)
    }

    @Test func typeMessage() throws {
        #expect(try decode(RealStream.typeMood) == .type(TypeMessage(oid: 16385, namespace: "public", name: "mood")))
    }

    @Test func relationMessage() throws {
        guard case let .relation(relation) = try decode(RealStream.relationUsers) else {
            Issue.record("not a Relation"); return
        }
        #expect(relation.id == 16389)
        #expect(relation.namespace == "public")
        #expect(relation.name == "users")
        #expect(relation.replicaIdentity == .default)
        #expect(relation.columns.map(\.name) == ["id", "username", "email", "active", "score", "balance", "created", "m", "tags"])
        #expect(relation.columns.map(\.typeOID) == [20, 25, 1043, 16, 701, 1700, 1184, 16385, 1009])
        #expect(relation.columns.map(\.isKey) == [true, false, false, false, false, false, false, false, false])
        #expect(relation.columns[2].typeModifier == 104)
        #expect(relation.columns[0].typeModifier == -1)

        guard case let .relation(full) = try decode(RealStream.relationFull) else {
            Issue.record("not a Relation"); return
        }
        #expect(full.replicaIdentity == .full)
        // Under REPLICA IDENTITY FULL every column is flagged as key.
        #expect(full.columns.map(\.isKey) == [true, true])
    }

    @Test func insertWithEveryValueKind() throws {
        guard case let .insert(relationID, new) = try decode(RealStream.insertAda) else {
            Issue.record("not an Insert"); return
        }
        #expect(relationID == 16389)
        #expect(new.columns.map(textOf) == [
            "42", "ada", "ada@example.com", "t", "0", "NaN", "2026-11-23 05:12:00.123456+00", "happy",
            #"{"a b","q\"uote",NULL,"NULL"}"#,
        ])
        guard case let .insert(_, bob) = try decode(RealStream.insertBob) else {
            Issue.record("not an Insert"); return
        }
        #expect(bob.columns == [.text([0x34, 0x33]), .text(Array("bob".utf8)[...])] + Array(repeating: TupleColumn.null, count: 7))
    }

    @Test func updates() throws {
        guard case let .update(id, old, oldKind, new) = try decode(RealStream.updateKeyChange) else {
            Issue.record("not an Update"); return
        }
        #expect(id == 16389)
        #expect(oldKind == .key)
        #expect(old?.columns == [.text(Array("43".utf8)[...])] + Array(repeating: .null, count: 8))
        #expect(new.columns.prefix(2).map(textOf) == ["44", "bob"])

        guard case let .update(_, noOld, noKind, plain) = try decode(RealStream.updatePlain) else {
            Issue.record("not an Update"); return
        }
        #expect(noOld == nil && noKind == nil)
        #expect(textOf(plain.columns[1]) == "ada2")

        guard case let .update(_, fullOld, fullKind, fullNew) = try decode(RealStream.updateFull) else {
            Issue.record("not an Update"); return
        }
        #expect(fullKind == .full)
        #expect(fullOld?.columns.map(textOf) == ["1", "x"])
        #expect(fullNew.columns.map(textOf) == ["1", "y"])

        guard case let .update(_, _, _, toasted) = try decode(RealStream.updateUnchangedToast) else {
            Issue.record("not an Update"); return
        }
        #expect(toasted.columns == [.text(Array("1".utf8)[...]), .unchangedToast, .text(Array("2".utf8)[...])])
    }

    @Test func deletes() throws {
        #expect(try decode(RealStream.deleteKey)
            == .delete(relationID: 16389, old: TupleData(columns: [.text(Array("42".utf8)[...])] + Array(repeating: .null, count: 8)), oldKind: .key))
        #expect(try decode(RealStream.deleteFull)
            == .delete(relationID: 16396, old: TupleData(columns: [.text(Array("1".utf8)[...]), .text(Array("y".utf8)[...])]), oldKind: .full))
    }

    @Test func truncate() throws {
        #expect(try decode(RealStream.truncateBoth) == .truncate(relationIDs: [16389, 16396], cascade: true, restartIdentity: true))
    }

    @Test func logicalMessages() throws {
        #expect(try decode(RealStream.messageHello)
            == .message(LogicalMessage(transactional: true, lsn: LSN("0/1531648")!, prefix: "wb", content: Array("hello".utf8))))
        #expect(try decode(RealStream.nonTransactionalMessage)
            == .message(LogicalMessage(transactional: false, lsn: LSN("0/15334A0")!, prefix: "nt", content: [0x00, 0xFF])))
    }

    @Test func decodingInPlaceFromARawBufferMatchesTheArrayPath() throws {
        for hex in RealStream.all {
            let bytes = hexBytes(hex)
            let fromArray = try decoder.decode(bytes)
            let fromBuffer = try bytes.withUnsafeBytes { buffer in try decoder.decode(buffer) }
            #expect(fromArray == fromBuffer, "\(hex)")
        }
    }
}
