import Foundation
@testable import PostgresReplication
import Testing

/// What a real walsender sends to a session that does ask for streaming
/// (protocol 2, `streaming 'on'`): the stream blocks, the xid-carrying changes
/// inside them and a subtransaction's Stream Abort all decode, the stream
/// tracks the blocks, and the assembler of a protocol 1 session refuses to
/// commit such a transaction rather than publish it without its rows.
@Suite("A protocol 2 streaming session against the real walsender", .serialized)
struct StreamingSessionTests {
    @Test("stream blocks decode; changes carry their subtransaction's xid; rolled-back subtransactions are aborted by xid")
    func streamedTransactionWithRolledBackSubtransaction() throws {
        let database = try TestDatabase()
        try database.sql("ALTER DATABASE \(database.name) SET logical_decoding_work_mem = '64kB'")
        let start = try PostgresConnection(url: database.bridgeURL, replication: true).createLogicalSlot(named: database.slot)

        func insert(_ prefix: String, _ range: ClosedRange<Int>) -> String {
            """
            INSERT INTO users (username, email, password_hash)
            SELECT '\(prefix)-' || g, '\(prefix)-' || g || '@example.com', repeat('h', 40)
            FROM generate_series(\(range.lowerBound), \(range.upperBound)) g;
            """
        }
        try database.sql("BEGIN;" + insert("keep", 1...500) + "SAVEPOINT s;" + insert("drop", 1...3000)
                         + "ROLLBACK TO SAVEPOINT s;" + insert("keep", 501...1000) + "COMMIT;")
        try database.sql(insert("sentinel", 1...1))

        let stream = try ReplicationStream(
            connection: try PostgresConnection(url: database.bridgeURL, replication: true), slot: database.slot,
            publications: ["walbridge"], startLSN: start, confirmedLSN: start, logicalMessages: false,
            statusInterval: .seconds(10), protocolVersion: 2, streaming: "on")
        var messages: [PgOutputMessage] = []
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        // Read until the sentinel's own (not streamed) transaction committed.
        while !messages.contains(where: { if case .commit = $0 { true } else { false } }) {
            guard clock.now < deadline else { throw TestFailure("no Commit after \(messages.count) messages") }
            try stream.read(limit: 1000, waitMilliseconds: 200) { (event: ReplicationEvent) in
                if case let .message(message, _) = event { messages.append(message) }
            }
        }

        // Blocks are well formed, and inside them every message carries an xid.
        var inBlock = false
        var topXID: UInt32?
        for message in messages {
            switch message {
            case let .streamStart(xid, _):
                #expect(!inBlock); inBlock = true
                #expect(topXID == nil || topXID == xid); topXID = xid
            case .streamStop:
                #expect(inBlock); inBlock = false
            case .streamed:
                #expect(inBlock, "xid-carrying messages only inside a block")
            case .begin, .commit, .insert, .relation:
                #expect(!inBlock, "\(message.kindName) outside a block")
            case .streamAbort, .streamCommit:
                #expect(!inBlock)
            default:
                Issue.record("unexpected \(message.kindName)")
            }
        }
        let xid = try #require(topXID)

        // Rows by the (sub)transaction that wrote them.
        var rows: [(xid: UInt32, username: String)] = []
        for case let .streamed(rowXID, .insert(_, new)) in messages {
            guard case let .text(username) = new.columns[1] else { Issue.record("username not text"); continue }
            rows.append((rowXID, String(decoding: username, as: UTF8.self)))
        }
        let abortedSubtransactions = Set(messages.compactMap { message -> UInt32? in
            if case let .streamAbort(top, sub, nil, nil) = message, top == xid, sub != xid { return sub }
            return nil
        })
        #expect(!abortedSubtransactions.isEmpty, "the rolled-back savepoint's streamed rows are aborted by its xid")
        #expect(rows.filter { abortedSubtransactions.contains($0.xid) }.allSatisfy { $0.username.hasPrefix("drop-") })
        let kept = rows.filter { !abortedSubtransactions.contains($0.xid) }.map(\.username)
        #expect(kept == (1...1000).map { "keep-\($0)" })
        guard case let .streamCommit(committed, _, _, _, _)? = messages.first(where: { if case .streamCommit = $0 { true } else { false } }) else {
            Issue.record("no Stream Commit"); return
        }
        #expect(committed == xid)

        // A protocol 1 assembler skips it all but will not commit it without its
        // rows: it refuses the Stream Commit, where the pipeline stops.
        var assembler = TransactionAssembler()
        var refusedAt: Int?
        for (index, message) in messages.enumerated() {
            do {
                #expect(try assembler.process(message) == nil, "\(message.kindName) yields no item")
            } catch {
                if case .undeliverableTransaction("Stream Commit", xid, nil, _, _) = error.code { refusedAt = index } else { Issue.record("\(error)") }
                break
            }
        }
        #expect(refusedAt != nil && refusedAt == messages.firstIndex { if case .streamCommit = $0 { true } else { false } })
        #expect(assembler.unsolicitedMessagesSkipped == (refusedAt ?? 0))
    }
}
