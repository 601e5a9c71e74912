import Foundation
import Logging
import Testing
import PostgresReplication

private let decoder = PgOutputDecoder()
/// The skipped messages' warnings are checked in one test; the others keep quiet.
private let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

private func text(_ string: String) -> TupleColumn { .text(Array(string.utf8)[...]) }

private let users = RelationMessage(id: 1, namespace: "public", name: "users", replicaIdentity: .default, columns: [
    .init(name: "id", typeOID: PostgresTypeOID.int4, typeModifier: -1, isKey: true),
    .init(name: "name", typeOID: PostgresTypeOID.text, typeModifier: -1, isKey: false),
])

private func insert(_ id: Int, _ name: String) -> PgOutputMessage {
    .insert(relationID: 1, new: TupleData(columns: [text("\(id)"), text(name)]))
}

/// Two protocol 1 transactions (xid 7 and 8) with changes, a transactional
/// message and a truncate, as the assembler's ordinary input.
private let v1Stream: [PgOutputMessage] = [
    .relation(users),
    .begin(finalLSN: LSN(0x100), commitTimeMicros: 1_000, xid: 7),
    insert(1, "ada"),
    .message(LogicalMessage(transactional: true, lsn: LSN(0xF0), prefix: "p", content: [1])),
    .update(relationID: 1, old: nil, oldKind: nil, new: TupleData(columns: [text("1"), text("ada2")])),
    .delete(relationID: 1, old: TupleData(columns: [text("1"), .null]), oldKind: .key),
    .commit(flags: 0, commitLSN: LSN(0x100), endLSN: LSN(0x180), commitTimeMicros: 1_000),
    .begin(finalLSN: LSN(0x200), commitTimeMicros: 2_000, xid: 8),
    insert(2, "bob"),
    .truncate(relationIDs: [1], cascade: false, restartIdentity: false),
    insert(3, "cy"),
    .commit(flags: 0, commitLSN: LSN(0x200), endLSN: LSN(0x280), commitTimeMicros: 2_000),
]

/// Everything an item says, to compare runs.
private func describe(_ item: AssembledItem?) -> String? {
    switch item {
    case nil: return nil
    case let .begin(info): return "begin \(info.xid) \(info.commitLSN)"
    case let .change(change):
        return "\(change.operation)#\(change.ordinal) \(change.relation.name) new \(String(describing: change.new)) old \(String(describing: change.old)) \(String(describing: change.oldKind))"
    case let .truncate(relations, cascade, restart, ordinal): return "truncate#\(ordinal) \(relations.map(\.name)) \(cascade) \(restart)"
    case let .message(message, ordinal): return "message#\(String(describing: ordinal)) \(message.prefix) \(message.content)"
    case let .commit(info, endLSN): return "commit \(info.xid) \(endLSN)"
    case let .relationChanged(relation): return "relation \(relation.name) \(relation.columns.count)"
    }
}

private func run(_ messages: [PgOutputMessage], _ assembler: inout TransactionAssembler) throws -> [String] {
    try messages.compactMap { message throws in describe(try assembler.process(message)) }
}

private func message(_ hex: String, inStreamBlock: Bool = false) -> PgOutputMessage {
    // Captured fixtures: a decoding failure is a broken test.
    try! decoder.decode(hexBytes(hex), inStreamBlock: inStreamBlock)
}

/// Unsolicited messages of protocols 2 to 4 that carry no change of a committed transaction.
private let harmless: [String: [PgOutputMessage]] = [
    "stray Stream Abort of a subtransaction": [.streamAbort(xid: 7, subtransactionXID: 9, abortLSN: nil, abortTimeMicros: nil)],
    "stray Stream Abort of the open xid": [.streamAbort(xid: 7, subtransactionXID: 7, abortLSN: nil, abortTimeMicros: nil)],
    "captured Stream Abort": [message(StreamFixtures.streamAbortSubtransaction)],
    "captured protocol 4 Stream Abort": [message(StreamFixtures.streamAbortParallel)],
    "a whole stream that aborts": [
        message(StreamFixtures.streamStartFirst),
        message(StreamFixtures.streamedRelation, inStreamBlock: true),
        message(StreamFixtures.streamedInsert, inStreamBlock: true),
        message(StreamFixtures.streamStop),
        .streamAbort(xid: 33700, subtransactionXID: 33700, abortLSN: nil, abortTimeMicros: nil),
    ],
    "an empty stream that commits": [
        .streamStart(xid: 40, firstSegment: true),
        .streamed(xid: 40, message: .relation(users)),
        .streamStop,
        .streamCommit(xid: 40, flags: 0, commitLSN: LSN(0x50), endLSN: LSN(0x60), commitTimeMicros: 5),
    ],
    "a stream whose only changes were in an aborted subtransaction": [
        .streamStart(xid: 50, firstSegment: true),
        .streamed(xid: 51, message: .relation(users)),
        .streamed(xid: 51, message: insert(9, "gone")),
        .streamStop,
        .streamAbort(xid: 50, subtransactionXID: 51, abortLSN: nil, abortTimeMicros: nil),
        .streamCommit(xid: 50, flags: 0, commitLSN: LSN(0x90), endLSN: LSN(0x98), commitTimeMicros: 5),
    ],
    "a prepared transaction rolled back": [
        message(StreamFixtures.rollbackPrepared),
    ],
    "an empty prepared transaction committed": [
        .beginPrepare(PreparedTransaction(prepareLSN: LSN(0x70), endLSN: LSN(0x78), prepareTimeMicros: 1, xid: 41, gid: "e")),
        .prepare(flags: 0, PreparedTransaction(prepareLSN: LSN(0x70), endLSN: LSN(0x78), prepareTimeMicros: 1, xid: 41, gid: "e")),
        .commitPrepared(flags: 0, commitLSN: LSN(0x80), endLSN: LSN(0x88), commitTimeMicros: 2, xid: 41, gid: "e"),
    ],
    "a lone Stream Stop and Prepare": [.streamStop, message(StreamFixtures.prepare), message(StreamFixtures.streamPrepare)],
]

@Suite("TransactionAssembler: messages of protocols 2 to 4 in a protocol 1 session")
struct TransactionAssemblerUnsolicitedTests {
    /// The items of `v1Stream` alone.
    static func baseline() throws -> [String] {
        var assembler = TransactionAssembler(logger: quiet)
        return try run(v1Stream, &assembler)
    }

    @Test("skipped anywhere, inside or between transactions: the same items and ordinals as without them",
          arguments: harmless.keys.sorted())
    func skippedAtEveryPosition(_ name: String) throws {
        let expected = try Self.baseline()
        let extra = try #require(harmless[name])
        // The prepared-transaction cases open a transaction of their own: only between v1 transactions.
        let opensTransaction = extra.contains { if case .beginPrepare = $0 { true } else { false } }
        for position in 0...v1Stream.count {
            let insideTransaction = v1Stream[..<position].reduce(0) { depth, message in
                switch message {
                case .begin: depth + 1
                case .commit: depth - 1
                default: depth
                }
            } > 0
            if opensTransaction && insideTransaction { continue }
            var messages = v1Stream
            messages.insert(contentsOf: extra, at: position)
            var assembler = TransactionAssembler(logger: quiet)
            #expect(try run(messages, &assembler) == expected, "\(name) at \(position)")
            #expect(assembler.unsolicitedMessagesSkipped == extra.count)
            #expect(assembler.currentTransaction == nil)
        }
    }

    @Test func aStrayStreamAbortInTheMiddleDoesNotAbortTheTransaction() throws {
        var assembler = TransactionAssembler(logger: quiet)
        _ = try assembler.process(.relation(users))
        _ = try assembler.process(.begin(finalLSN: LSN(0x100), commitTimeMicros: 1, xid: 7))
        _ = try assembler.process(insert(1, "a"))
        #expect(try assembler.process(message(StreamFixtures.streamAbortSubtransaction)) == nil)
        #expect(try assembler.process(.streamAbort(xid: 7, subtransactionXID: 7, abortLSN: nil, abortTimeMicros: nil)) == nil)
        #expect(assembler.currentTransaction?.xid == 7)
        guard case let .change(next) = try assembler.process(insert(2, "b")) else { Issue.record("no change"); return }
        #expect(next.ordinal == 1)
        guard case .commit = try assembler.process(.commit(flags: 0, commitLSN: LSN(0x100), endLSN: LSN(0x180), commitTimeMicros: 1)) else {
            Issue.record("no commit"); return
        }
    }

    @Test("the stray Stream Abort Postgres 18.6 sent to a protocol 1 session is skipped; the next transaction is whole")
    func capturedStrayAbortOfPostgres18() throws {
        var assembler = TransactionAssembler(logger: quiet)
        let items = try run(Postgres18StrayAbort.all.map { message($0) }, &assembler)
        var without = TransactionAssembler(logger: quiet)
        #expect(items == (try run(Postgres18StrayAbort.all.dropFirst().map { message($0) }, &without)))
        #expect(items.count == 4 && items.first == "begin 1147 0/56EC538" && items.last == "commit 1147 0/56EC568")
        #expect(items[2].hasPrefix("insert#0 s new") && items[2].contains("999998"))
        #expect(assembler.unsolicitedMessagesSkipped == 1)
        #expect(message(Postgres18StrayAbort.streamAbort)
            == .streamAbort(xid: 1145, subtransactionXID: 1146, abortLSN: nil, abortTimeMicros: nil))
    }

    @Test func aCommittedStreamWithChangesIsAnErrorNotALoss() throws {
        var assembler = TransactionAssembler(logger: quiet)
        for hex in [StreamFixtures.streamStartFirst] { _ = try assembler.process(message(hex)) }
        _ = try assembler.process(message(StreamFixtures.streamedRelation, inStreamBlock: true))
        _ = try assembler.process(message(StreamFixtures.streamedInsert, inStreamBlock: true))
        _ = try assembler.process(message(StreamFixtures.streamStop))
        // The abort of subtransaction 33701 does not take back the changes of 33700 itself.
        _ = try assembler.process(message(StreamFixtures.streamAbortSubtransaction))
        // The streamed Relation was not applied: relation 16441 is still unknown.
        #expect(assembler.relations[16441] == nil)
        let error = #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(message(StreamFixtures.streamCommit))
        }
        guard case let .undeliverableTransaction(kind, xid, gid, commitLSN, endLSN)? = error?.code else {
            Issue.record("wrong error \(String(describing: error))"); return
        }
        #expect(kind == "Stream Commit" && xid == 33700 && gid == nil)
        #expect(commitLSN == LSN("0/47B60D8") && endLSN == LSN("0/47B6110"))
        #expect(error?.isPerChange == false)
        #expect(error?.description.contains("WalBridge stops instead of losing them") == true)
    }

    @Test func aCommittedPreparedTransactionWithChangesIsAnError() throws {
        var assembler = TransactionAssembler(logger: quiet)
        _ = try assembler.process(.relation(users))
        let sequence: [PgOutputMessage] = [
            message(StreamFixtures.beginPrepare),
            // Relations inside a prepared transaction are applied: Postgres does not send them again.
            .relation(RelationMessage(id: 2, namespace: "public", name: "orders", replicaIdentity: .default, columns: [])),
            insert(1, "a"),
            .message(LogicalMessage(transactional: true, lsn: LSN(1), prefix: "x", content: [])),
            message(StreamFixtures.prepare),
        ]
        #expect(try sequence.map { try assembler.process($0) }.compactMap(describe) == ["relation orders 0"])
        #expect(assembler.currentTransaction == nil)
        // Ordinary transactions go on between the prepare and its commit.
        let ordinary = try run(Array(v1Stream.dropFirst()), &assembler)
        #expect(ordinary == Array(try Self.baseline().dropFirst()))
        let error = #expect(throws: TransactionAssemblerError.self) { try assembler.process(message(StreamFixtures.commitPrepared)) }
        guard case let .undeliverableTransaction(kind, xid, gid, _, _)? = error?.code else { Issue.record("wrong error"); return }
        #expect(kind == "Commit Prepared" && xid == 777 && gid == "g1")
        #expect(error?.description.contains(#"prepared transaction "g1""#) == true)
    }

    @Test func aStreamPreparedWithChangesIsRememberedByItsGid() throws {
        var assembler = TransactionAssembler(logger: quiet)
        let prepared = PreparedTransaction(prepareLSN: LSN(0x10), endLSN: LSN(0x18), prepareTimeMicros: 1, xid: 779, gid: "g3")
        for step in [PgOutputMessage.streamStart(xid: 779, firstSegment: true), .streamed(xid: 779, message: insert(1, "a")), .streamStop,
                     .streamPrepare(flags: 0, prepared)] {
            #expect(try assembler.process(step) == nil)
        }
        #expect(throws: TransactionAssemblerError.self) {
            try assembler.process(.commitPrepared(flags: 0, commitLSN: LSN(0x20), endLSN: LSN(0x28), commitTimeMicros: 2, xid: 779, gid: "g3"))
        }
        // Rolled back instead: nothing was lost.
        var other = TransactionAssembler(logger: quiet)
        for step in [PgOutputMessage.streamStart(xid: 779, firstSegment: true), .streamed(xid: 779, message: insert(1, "a")), .streamStop,
                     .streamPrepare(flags: 0, prepared),
                     .rollbackPrepared(flags: 0, prepareEndLSN: LSN(0x18), rollbackEndLSN: LSN(0x30), prepareTimeMicros: 1,
                                       rollbackTimeMicros: 3, xid: 779, gid: "g3"),
                     .commitPrepared(flags: 0, commitLSN: LSN(0x20), endLSN: LSN(0x28), commitTimeMicros: 2, xid: 779, gid: "g3")] {
            #expect(try other.process(step) == nil)
        }
    }

    @Test func beginPrepareInsideATransactionIsOutOfOrder() throws {
        var assembler = TransactionAssembler(logger: quiet)
        _ = try assembler.process(.begin(finalLSN: LSN(0x100), commitTimeMicros: 1, xid: 7))
        let error = #expect(throws: TransactionAssemblerError.self) { try assembler.process(message(StreamFixtures.beginPrepare)) }
        #expect(error?.transaction?.xid == 7)
        #expect(assembler.currentTransaction?.xid == 7, "state unchanged")
        // And a Begin inside a skipped prepared transaction.
        var other = TransactionAssembler(logger: quiet)
        _ = try other.process(message(StreamFixtures.beginPrepare))
        #expect(throws: TransactionAssemblerError.self) { try other.process(.begin(finalLSN: LSN(1), commitTimeMicros: 1, xid: 9)) }
        #expect(throws: TransactionAssemblerError.self) {
            try other.process(.commit(flags: 0, commitLSN: LSN(1), endLSN: LSN(2), commitTimeMicros: 1))
        }
    }

    @Test func theFirstOfEachKindIsLoggedOncePerSession() throws {
        let records = LogRecords()
        var assembler = TransactionAssembler(logger: Logger(label: "test") { _ in CapturingLogHandler(records) })
        let abort = message(StreamFixtures.streamAbortSubtransaction)
        for _ in 0..<3 { _ = try assembler.process(abort) }
        _ = try assembler.process(.streamStart(xid: 5, firstSegment: true))
        _ = try assembler.process(.streamed(xid: 5, message: insert(1, "secret-value")))
        _ = try assembler.process(.streamed(xid: 5, message: insert(2, "secret-value")))
        _ = try assembler.process(.streamStop)
        #expect(assembler.unsolicitedMessagesSkipped == 7)
        var lines = records.lines
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.level == .warning })
        #expect(lines.first?.message.contains("Stream Abort message, which this protocol 1 session did not ask for; skipped") == true)
        #expect(lines.first?.metadata == "Stream Abort xid 33700 subtransaction 33701")
        #expect(lines.map(\.metadata) == ["Stream Abort xid 33700 subtransaction 33701", "Stream Start xid 5 (first segment)",
                                          "Insert of relation 1 in stream of xid 5", "Stream Stop"])
        #expect(!lines.contains { $0.message.contains("secret") || $0.metadata.contains("secret") }, "never a row value")
        // A new session logs again.
        assembler.reset()
        #expect(assembler.unsolicitedMessagesSkipped == 0)
        _ = try assembler.process(abort)
        lines = records.lines
        #expect(lines.count == 5)
    }
}

/// Log lines a `CapturingLogHandler` saw.
final class LogRecords: @unchecked Sendable {  // `lock` guards `stored`.
    struct Line { var level: Logger.Level; var message: String; var metadata: String }
    private let lock = NSLock()
    private var stored: [Line] = []
    var lines: [Line] { lock.withLock { stored } }
    func append(_ line: Line) { lock.withLock { stored.append(line) } }
}

/// Records every log line with its `message` metadata value.
struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    init(_ records: LogRecords) { self.records = records }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.append(.init(level: event.level, message: event.message.description,
                             metadata: event.metadata?["message"]?.description ?? ""))
    }
}
