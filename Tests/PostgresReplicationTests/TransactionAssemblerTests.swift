import Testing
import PostgresReplication

private let decoder = PgOutputDecoder()

private func message(_ hex: String) throws -> PgOutputMessage { try decoder.decode(hexBytes(hex)) }

private func text(_ string: String) -> TupleColumn { .text(Array(string.utf8)[...]) }

private let usersRelation = RelationMessage(id: 1, namespace: "public", name: "users", replicaIdentity: .default, columns: [
    .init(name: "id", typeOID: PostgresTypeOID.int4, typeModifier: -1, isKey: true),
    .init(name: "name", typeOID: PostgresTypeOID.text, typeModifier: -1, isKey: false),
    .init(name: "born", typeOID: PostgresTypeOID.date, typeModifier: -1, isKey: false),
])

private let begin100 = PgOutputMessage.begin(finalLSN: LSN(0x100), commitTimeMicros: 1_000, xid: 7)
private let commit100 = PgOutputMessage.commit(flags: 0, commitLSN: LSN(0x100), endLSN: LSN(0x180), commitTimeMicros: 1_000)

private func insert(_ id: String, _ name: String = "n", _ born: String = "2000-01-01") -> PgOutputMessage {
    .insert(relationID: 1, new: TupleData(columns: [text(id), text(name), text(born)]))
}

/// The change of an item, or nil.
private func change(_ item: AssembledItem?) -> RowChange? {
    if case let .change(change) = item { return change }
    return nil
}

@Suite("TransactionAssembler")
struct TransactionAssemblerTests {
    @Test func assemblesACapturedTransaction() throws {
        var assembler = TransactionAssembler()
        let info = TransactionInfo(commitLSN: LSN("0/1531648")!, commitTimeMicros: RealStream.commitTime729UnixMicros, xid: 729)

        guard case let .begin(begun) = try assembler.process(try message(RealStream.begin729)) else {
            Issue.record("no begin"); return
        }
        #expect(begun == info)
        #expect(assembler.currentTransaction == info)
        #expect(try assembler.process(try message(RealStream.typeMood)) == nil)
        #expect(assembler.types[16385]?.name == "mood")
        guard case let .relationChanged(relation) = try assembler.process(try message(RealStream.relationUsers)) else {
            Issue.record("no relation"); return
        }
        #expect(relation.schema == "public" && relation.name == "users" && relation.columns.count == 9)

        let ada = try #require(change(try assembler.process(try message(RealStream.insertAda))))
        #expect(ada.operation == .insert && ada.ordinal == 0 && ada.old == nil && ada.oldKind == nil)
        #expect(ada.relation == relation)
        let row = try #require(ada.new)
        #expect(row.count == 9)
        #expect(row[0] == .value(.int(42)))
        #expect(row[1] == .value(.string("ada")))
        #expect(row[2] == .value(.string("ada@example.com")))
        #expect(row[3] == .value(.bool(true)))
        // `-0` as an integer literal is 0 by the time it is a float8.
        if case let .value(.double(score)) = row[4] { #expect(score == 0 && score.sign == .plus) } else { Issue.record("score") }
        #expect(row[5] == .value(.numeric("NaN")))
        #expect(row[6] == .value(.timestampTZ(PostgresDate(year: 2026, month: 11, day: 23),
                                              PostgresTime(hour: 5, minute: 12, second: 0, microsecond: 123_456))))
        #expect(row[7] == .value(.string("happy")))
        #expect(row[8] == .value(.array([.string("a b"), .string(#"q"uote"#), .null, .string("NULL")])))

        let bob = try #require(change(try assembler.process(try message(RealStream.insertBob))))
        #expect(bob.ordinal == 1)
        #expect(bob.new == [.value(.int(43)), .value(.string("bob"))] + Array(repeating: .value(.null), count: 7))

        guard case let .message(logical, ordinal) = try assembler.process(try message(RealStream.messageHello)) else {
            Issue.record("no message"); return
        }
        #expect(logical.prefix == "wb" && ordinal == 0)

        guard case let .commit(committed, endLSN) = try assembler.process(try message(RealStream.commit729)) else {
            Issue.record("no commit"); return
        }
        #expect(committed == info)
        #expect(endLSN == LSN("0/1531678"))
        #expect(assembler.currentTransaction == nil)
    }

    @Test func capturedUpdatesAndDeletes() throws {
        var assembler = TransactionAssembler()
        for hex in [RealStream.typeMood, RealStream.relationUsers, RealStream.relationFull, RealStream.begin730] {
            _ = try assembler.process(try message(hex))
        }
        let keyChange = try #require(change(try assembler.process(try message(RealStream.updateKeyChange))))
        #expect(keyChange.operation == .update)
        #expect(keyChange.oldKind == .key)
        // A 'K' tuple's non-key columns arrive as nulls and stay so; the mapper uses Column.isKey.
        #expect(keyChange.old == [.value(.int(43))] + Array(repeating: .value(.null), count: 8))
        #expect(keyChange.new?.prefix(2) == [.value(.int(44)), .value(.string("bob"))])

        let plain = try #require(change(try assembler.process(try message(RealStream.updatePlain))))
        #expect(plain.old == nil && plain.oldKind == nil && plain.ordinal == 1)

        let full = try #require(change(try assembler.process(try message(RealStream.updateFull))))
        #expect(full.oldKind == .full)
        #expect(full.old == [.value(.int(1)), .value(.string("x"))])
        #expect(full.new == [.value(.int(1)), .value(.string("y"))])

        let deleteKey = try #require(change(try assembler.process(try message(RealStream.deleteKey))))
        #expect(deleteKey.operation == .delete && deleteKey.new == nil && deleteKey.oldKind == .key && deleteKey.ordinal == 3)
        #expect(deleteKey.old?.first == .value(.int(42)))

        let deleteFull = try #require(change(try assembler.process(try message(RealStream.deleteFull))))
        #expect(deleteFull.oldKind == .full && deleteFull.old == [.value(.int(1)), .value(.string("y"))])

        guard case let .truncate(relations, cascade, restart, ordinal) = try assembler.process(try message(RealStream.truncateBoth)) else {
            Issue.record("no truncate"); return
        }
        #expect(relations.map(\.name) == ["users", "full_t"])
        #expect(cascade && restart && ordinal == 5)
    }

    @Test func unchangedToastStaysUnchanged() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(RelationMessage(id: 0x401C, namespace: "public", name: "toasty", replicaIdentity: .default, columns: [
            .init(name: "id", typeOID: 23, typeModifier: -1, isKey: true),
            .init(name: "big", typeOID: 25, typeModifier: -1, isKey: false),
            .init(name: "n", typeOID: 23, typeModifier: -1, isKey: false),
        ])))
        _ = try assembler.process(begin100)
        let update = try #require(change(try assembler.process(try message(RealStream.updateUnchangedToast))))
        #expect(update.new == [.value(.int(1)), .unchangedToast, .value(.int(2))])
    }

    @Test func ordinalsCountChangesAndTruncatesButNotMessages() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(usersRelation))
        let transactional = LogicalMessage(transactional: true, lsn: LSN(0x90), prefix: "p", content: [])
        let nonTransactional = LogicalMessage(transactional: false, lsn: LSN(0x91), prefix: "p", content: [1])
        let stream: [PgOutputMessage] = [
            begin100,
            insert("1"),
            .message(transactional),
            .update(relationID: 1, old: nil, oldKind: nil, new: TupleData(columns: [text("1"), text("m"), .null])),
            .origin(commitLSN: LSN(5), name: "elsewhere"),
            .truncate(relationIDs: [1], cascade: false, restartIdentity: false),
            .message(transactional),
            .message(nonTransactional),
            .relation(usersRelation),
            .delete(relationID: 1, old: TupleData(columns: [text("1"), .null, .null]), oldKind: .key),
            .message(transactional),
            commit100,
        ]
        var summary: [String] = []
        for item in try stream.map({ message throws in try assembler.process(message) }) {
            switch item {
            case .begin: summary.append("begin")
            case let .change(change): summary.append("\(change.operation)#\(change.ordinal)")
            case let .truncate(_, _, _, ordinal): summary.append("truncate#\(ordinal)")
            case let .message(_, ordinal): summary.append("message#\(ordinal.map(String.init) ?? "-")")
            case let .commit(info, endLSN): summary.append("commit \(info.xid) \(endLSN)")
            case let .relationChanged(relation): summary.append("relation \(relation.name)")
            case nil: summary.append("nil")
            }
        }
        #expect(summary == ["begin", "insert#0", "message#0", "update#1", "nil", "truncate#2", "message#1",
                            "message#-", "relation users", "delete#3", "message#2", "commit 7 0/180"])

        // The next transaction starts counting again.
        _ = try assembler.process(.begin(finalLSN: LSN(0x200), commitTimeMicros: 2_000, xid: 8))
        #expect(change(try assembler.process(insert("2")))?.ordinal == 0)
        guard case let .message(_, ordinal) = try assembler.process(.message(transactional)) else { Issue.record("no message"); return }
        #expect(ordinal == 0)
    }

    @Test func nonTransactionalMessageOutsideATransaction() throws {
        var assembler = TransactionAssembler()
        let logical = LogicalMessage(transactional: false, lsn: LSN(0x91), prefix: "p", content: [1])
        guard case let .message(received, ordinal) = try assembler.process(.message(logical)) else { Issue.record("no message"); return }
        #expect(received == logical && ordinal == nil)
        let transactional = LogicalMessage(transactional: true, lsn: LSN(0x92), prefix: "p", content: [])
        let error = #expect(throws: TransactionAssemblerError.self) { try assembler.process(.message(transactional)) }
        #expect(error?.isPerChange == false)
    }

    @Test func relationMessagesReplaceTheCachedRelation() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(usersRelation))
        var altered = usersRelation
        altered.columns.append(.init(name: "tags", typeOID: 16400, typeModifier: -1, isKey: false))
        _ = try assembler.process(.type(TypeMessage(oid: 16400, namespace: "public", name: "_tag")))
        guard case let .relationChanged(relation) = try assembler.process(.relation(altered)) else { Issue.record("no relation"); return }
        #expect(relation.columns.count == 4)
        #expect(assembler.relations[1]?.columns.count == 4)
        _ = try assembler.process(begin100)
        let row = try #require(change(try assembler.process(.insert(relationID: 1, new: TupleData(columns: [text("1"), text("a"), .null, text("{x,NULL}")])))))
        #expect(row.relation.columns.last?.name == "tags")
        // The Type message made `_tag` known as an array type.
        #expect(row.new?.last == .value(.array([.string("x"), .null])))
    }

    @Test func valueDecodingFailureIsPerChangeAndTheStreamGoesOn() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(usersRelation))
        _ = try assembler.process(begin100)
        _ = try assembler.process(insert("1"))
        let error = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(insert("2", "private name of someone", "2026-02-30"))
        }
        #expect(error?.isPerChange == true)
        #expect(error?.ordinal == 1)
        #expect(error?.transaction?.xid == 7)
        #expect(error?.relation?.name == "users")
        guard case let .valueDecoding(column, valueError)? = error?.code else { Issue.record("wrong code"); return }
        #expect(column == "born")
        #expect(valueError.typeOID == PostgresTypeOID.date && valueError.reason == "day out of range")
        #expect(error?.description == "column \"born\": cannot decode date (oid 1082) value '2026-02-30': day out of range in public.users (xid 7, commit LSN 0/100, change 1)")
        // Never the rest of the row.
        #expect(error?.description.contains("private") == false)

        #expect(change(try assembler.process(insert("3")))?.ordinal == 2)
        guard case .commit = try assembler.process(commit100) else { Issue.record("no commit"); return }
    }

    @Test func perChangeStructuralErrorsAdvanceTheOrdinal() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(usersRelation))
        _ = try assembler.process(begin100)

        let unknown = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.insert(relationID: 99, new: TupleData(columns: [])))
        }
        guard case .unknownRelation(99)? = unknown?.code else { Issue.record("wrong code"); return }
        #expect(unknown?.ordinal == 0 && unknown?.relation == nil)

        let count = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.delete(relationID: 1, old: TupleData(columns: [text("1")]), oldKind: .key))
        }
        guard case .columnCountMismatch(expected: 3, actual: 1)? = count?.code else { Issue.record("wrong code"); return }
        #expect(count?.ordinal == 1)

        let oldCount = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.update(relationID: 1, old: TupleData(columns: [text("1")]), oldKind: .key,
                                          new: TupleData(columns: [text("1"), .null, .null])))
        }
        #expect(oldCount?.ordinal == 2)

        let binary = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.insert(relationID: 1, new: TupleData(columns: [.binary([0, 0, 0, 1]), .null, .null])))
        }
        guard case .binaryColumn("id")? = binary?.code else { Issue.record("wrong code"); return }
        #expect(binary?.ordinal == 3)

        let truncate = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.truncate(relationIDs: [1, 42], cascade: false, restartIdentity: false))
        }
        guard case .unknownRelation(42)? = truncate?.code else { Issue.record("wrong code"); return }
        #expect(truncate?.ordinal == 4)

        #expect(change(try assembler.process(insert("9")))?.ordinal == 5)
    }

    @Test func protocolOrderErrorsLeaveTheStateUnchanged() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.relation(usersRelation))

        let outside = #expect(throws: TransactionAssemblerError.self) { try assembler.process(insert("1")) }
        guard case .outsideTransaction("Insert")? = outside?.code else { Issue.record("wrong code"); return }
        #expect(outside?.isPerChange == false && outside?.transaction == nil)
        #expect(outside?.description == "Insert message outside a transaction")
        #expect(throws: TransactionAssemblerError.self) { try assembler.process(.truncate(relationIDs: [1], cascade: false, restartIdentity: false)) }

        let commit = #expect(throws: TransactionAssemblerError.self) { try assembler.process(commit100) }
        guard case .commitOutsideTransaction? = commit?.code else { Issue.record("wrong code"); return }

        _ = try assembler.process(begin100)
        let nested = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.begin(finalLSN: LSN(0x300), commitTimeMicros: 0, xid: 9))
        }
        guard case .beginInsideTransaction(newXID: 9)? = nested?.code else { Issue.record("wrong code"); return }
        #expect(nested?.transaction?.xid == 7)
        #expect(assembler.currentTransaction?.xid == 7)

        let mismatch = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.commit(flags: 0, commitLSN: LSN(0x101), endLSN: LSN(0x180), commitTimeMicros: 1_000))
        }
        guard case .commitLSNMismatch(begin: LSN(0x100), commit: LSN(0x101))? = mismatch?.code else { Issue.record("wrong code"); return }
        #expect(assembler.currentTransaction?.xid == 7)

        // Still consistent: the open transaction continues with ordinal 0.
        #expect(change(try assembler.process(insert("1")))?.ordinal == 0)
    }

    @Test func resetForgetsEverything() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.process(.type(TypeMessage(oid: 16400, namespace: "public", name: "_tag")))
        _ = try assembler.process(.relation(usersRelation))
        _ = try assembler.process(begin100)
        assembler.reset()
        #expect(assembler.currentTransaction == nil)
        #expect(assembler.relations.isEmpty)
        #expect(assembler.types.count == 0)
        _ = try assembler.process(begin100)
        let error = #expect(throws: TransactionAssemblerError.self) { try assembler.process(insert("1")) }
        guard case .unknownRelation(1)? = error?.code else { Issue.record("wrong code"); return }
    }
}
