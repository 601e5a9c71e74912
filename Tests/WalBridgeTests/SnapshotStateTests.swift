import Configuration
import EventMapping
import Foundation
import PostgresReplication
import Testing
@testable import WalBridge

@Suite("Snapshot state, visibility and watermarks")
struct SnapshotStateTests {
    @Test("the backfill progress round-trips through the checkpoint file")
    func checkpointRoundTrip() throws {
        let path = NSTemporaryDirectory() + "walbridge-snapshot-state-\(UInt64.random(in: 0..<UInt64.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let users = QualifiedName(schema: "public", table: "users")
        let orders = QualifiedName(schema: "shop", table: "Order Items")
        let job = SnapshotState.Job(
            id: "job-1", origin: .command, filter: "created_at > '2026-01-01'",
            tables: [SnapshotState.TableProgress(table: users, lastKey: ["42"], rowsDone: 20_000, estimatedRows: 1_000_000, done: false),
                     SnapshotState.TableProgress(table: orders, estimatedRows: -1)],
            startedAt: Date(timeIntervalSince1970: 1_800_000_000))
        let checkpoint = Checkpoint(systemID: "7300000000000000001", slot: "walbridge", lsn: LSN(0x16B3748),
                                    updatedAt: Date(timeIntervalSince1970: 1_800_000_100),
                                    snapshot: SnapshotState(job: job, completedInitial: [users]))
        let store = CheckpointStore(path: path)
        try store.save(checkpoint)
        #expect(try store.load() == checkpoint)

        var finished = checkpoint.snapshot
        finished.finishJob()
        #expect(finished.job == nil && finished.completedInitial == [users], "a command job adds nothing to completedInitial")
        var initial = SnapshotState(job: SnapshotState.Job(origin: .initial, filter: nil, tables: [.init(table: orders)]))
        initial.finishJob()
        #expect(initial.completedInitial == [orders])
    }

    @Test("a checkpoint without a snapshot stays in the old format; a malformed snapshot object is refused")
    func compatibility() throws {
        let path = NSTemporaryDirectory() + "walbridge-snapshot-compat-\(UInt64.random(in: 0..<UInt64.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CheckpointStore(path: path)
        try store.save(Checkpoint(systemID: "1", slot: "s", lsn: LSN(1)))
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains("snapshot"))
        try #"{"version": 1, "systemId": "1", "slot": "s", "lsn": "0/1", "snapshot": {"job": {"id": 3}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: CheckpointError.self) { try store.load() }
    }

    @Test("pg_current_snapshot() text: running and future transactions are invisible, modulo 2^32")
    func visibility() throws {
        let visibility = try #require(SnapshotVisibility("4294967396:4294967410:4294967400,4294967405"))
        #expect(visibility.xmin == 100 && visibility.xmax == 114)
        #expect(!visibility.isInvisible(99) && !visibility.isInvisible(101) && !visibility.isInvisible(113))
        #expect(visibility.isInvisible(104) && visibility.isInvisible(109), "running at the snapshot")
        #expect(visibility.isInvisible(114) && visibility.isInvisible(200), "started after it")
        let wrapped = SnapshotVisibility(xmin: UInt32.max - 5, xmax: 3, inProgress: [])
        #expect(!wrapped.isInvisible(UInt32.max - 1) && !wrapped.isInvisible(2) && wrapped.isInvisible(3))
        #expect(SnapshotVisibility("nonsense") == nil)
        #expect(SnapshotVisibility("10:12:") == SnapshotVisibility(xmin: 10, xmax: 12, inProgress: []))
    }

    @Test("watermark messages round-trip; foreign content is not a watermark")
    func watermarks() {
        let mark = SnapshotWatermark(mark: .high, session: 0xABCDEF, sequence: 17)
        #expect(SnapshotWatermark(content: Array(mark.content.utf8)) == mark)
        #expect(SnapshotWatermark(content: Array("hello".utf8)) == nil)
        #expect(SnapshotWatermark(content: Array("mid:1:2".utf8)) == nil)
    }

    @Test("the progress line shows rows, estimate, rate and time left")
    func progressLine() {
        let job = SnapshotState.Job(origin: .command, filter: nil, tables: [
            .init(table: QualifiedName(schema: "public", table: "users"), lastKey: ["1"], rowsDone: 420_000, estimatedRows: 1_000_000)])
        let progress = SnapshotProgress(job: job, rowsThisSession: 400_000, seconds: 8)
        #expect(progress.line == "public.users: 420,000 / ~1,000,000 rows (42%), 50,000 rows/s, ETA 12s")
        #expect(SnapshotProgress.grouped(999) == "999" && SnapshotProgress.grouped(1_234_567) == "1,234,567")
    }

    @Test("the channel hands a chunk to its high watermark only, and drops chunks whose marks are gone")
    func channel() {
        let channel = SnapshotChannel(capacity: 3)
        let visibility = SnapshotVisibility(xmin: 1, xmax: 2, inProgress: [])
        func chunk(_ sequence: Int) -> SnapshotChunk {
            SnapshotChunk(session: 7, sequence: sequence, tableIndex: 0,
                          relation: Relation(id: 0, schema: "public", name: "users", replicaIdentity: .default, columns: []),
                          rows: [], lastKey: nil, isLastOfTable: false, visibility: visibility)
        }
        #expect(channel.put(chunk(1)) && channel.put(chunk(2)) && channel.put(chunk(3)))
        #expect(channel.take(session: 8, sequence: 1) == nil, "another reader's mark")
        #expect(channel.take(session: 7, sequence: 2)?.sequence == 2)
        #expect(channel.take(session: 7, sequence: 1) == nil, "chunk 1 was dropped with chunk 2's mark")
        #expect(channel.take(session: 7, sequence: 3)?.sequence == 3)
        channel.cancel()
        #expect(!channel.put(chunk(4)), "a cancelled channel takes nothing")
    }
}

@Suite("Snapshot coordinator (DBLog's drop rule)")
struct SnapshotCoordinatorTests {
    let users = QualifiedName(schema: "public", table: "users")
    let orders = QualifiedName(schema: "public", table: "orders")

    func mapper() throws -> EventMapper {
        let yaml = """
        postgres: {url: "postgres://x@127.0.0.1/auth", slot: s}
        kafka: {bootstrap_servers: "127.0.0.1:9092"}
        mappings:
          - table: public.users
            topic: users
            key: [id]
            events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
            fields: {id: userId, username: username}
          - table: public.orders
            topic: orders
            key: [id]
            events: {insert: OrderPlaced}
            fields: {id: orderId}
        """
        return try EventMapper(configuration: BridgeConfiguration.parse(yaml: yaml, source: "t.yaml", environment: [:]),
                               systemID: "1", database: "auth")
    }

    func relation(_ table: QualifiedName) -> Relation {
        Relation(id: 1, schema: table.schema, name: table.table, replicaIdentity: .default, columns: [
            .init(name: "id", typeOID: 20, typeModifier: -1, isKey: true),
            .init(name: "username", typeOID: 25, typeModifier: -1, isKey: false),
        ])
    }

    func row(_ id: Int64) -> Row { [.value(.int(id)), .value(.string("u\(id)"))] }

    func update(_ table: QualifiedName, _ id: Int64) -> RowChange {
        RowChange(operation: .update, relation: relation(table), new: row(id), old: nil, oldKind: nil, ordinal: 0)
    }

    @Test("a chunk drops exactly the rows of its table changed by transactions its SELECT did not see")
    func dropRule() throws {
        let mapper = try mapper()
        let job = SnapshotState.Job(id: "job", origin: .command, filter: nil,
                                    tables: [.init(table: users), .init(table: orders)])
        let coordinator = SnapshotCoordinator(state: SnapshotState(job: job), channel: SnapshotChannel(), session: 9)
        coordinator.record(xid: 90, change: update(users, 1), mapper: mapper)     // seen by the SELECT (below xmin)
        coordinator.record(xid: 105, change: update(orders, 2), mapper: mapper)   // unseen, but another table's key 2
        coordinator.record(xid: 105, change: update(users, 3), mapper: mapper)    // unseen: running at the snapshot
        coordinator.record(xid: 112, change: update(users, 4), mapper: mapper)    // unseen: started after it
        coordinator.record(xid: 101, change: update(users, 5), mapper: mapper)    // seen: committed before it
        let visibility = SnapshotVisibility(xmin: 100, xmax: 110, inProgress: [105])
        #expect(coordinator.channel.put(SnapshotChunk(
            session: 9, sequence: 1, tableIndex: 0, relation: relation(users), rows: (1...5).map(row),
            lastKey: ["5"], isLastOfTable: false, visibility: visibility)))

        let transaction = TransactionInfo(commitLSN: LSN(0x1000), commitTimeMicros: 0, xid: 120)
        #expect(coordinator.highWatermark(SnapshotWatermark(mark: .high, session: 8, sequence: 1), transaction: transaction, mapper: mapper) == nil,
                "another session's mark")
        let outcome = try #require(coordinator.highWatermark(
            SnapshotWatermark(mark: .high, session: 9, sequence: 1), transaction: transaction, mapper: mapper))
        #expect(outcome.records.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } } == ["1", "2", "5"])
        #expect(outcome.dropped == 2)
        #expect(coordinator.rememberedTransactions == 3, "xid 90 is below the chunk's xmin: forgotten")

        #expect(coordinator.confirmed.job?.tables[0].lastKey == nil, "nothing confirmed before the commit is delivered")
        coordinator.committed(endLSN: LSN(0x1100))
        #expect(!coordinator.confirm(upTo: LSN(0x10FF)))
        #expect(coordinator.confirm(upTo: LSN(0x1100)))
        #expect(coordinator.confirmed.job?.tables[0].lastKey == ["5"])
        #expect(coordinator.confirmed.job?.tables[0].rowsDone == 5)
    }

    @Test("the last chunk of the last table finishes the job and stops remembering keys")
    func finish() throws {
        let mapper = try mapper()
        let job = SnapshotState.Job(id: "job", origin: .initial, filter: nil, tables: [.init(table: users)])
        let coordinator = SnapshotCoordinator(state: SnapshotState(job: job), channel: SnapshotChannel(), session: 1)
        coordinator.record(xid: 200, change: update(users, 1), mapper: mapper)
        #expect(coordinator.channel.put(SnapshotChunk(
            session: 1, sequence: 1, tableIndex: 0, relation: relation(users), rows: [row(1), row(2)],
            lastKey: ["2"], isLastOfTable: true, visibility: SnapshotVisibility(xmin: 100, xmax: 150, inProgress: []))))
        let outcome = try #require(coordinator.highWatermark(
            SnapshotWatermark(mark: .high, session: 1, sequence: 1),
            transaction: TransactionInfo(commitLSN: LSN(0x2000), commitTimeMicros: 0, xid: 300), mapper: mapper))
        #expect(outcome.records.count == 1 && outcome.dropped == 1)
        coordinator.record(xid: 400, change: update(users, 2), mapper: mapper)
        #expect(coordinator.rememberedTransactions == 0, "no table left to snapshot: nothing remembered")
        coordinator.committed(endLSN: LSN(0x2100))
        #expect(!coordinator.jobFinished)
        _ = coordinator.confirm(upTo: LSN(0x2100))
        #expect(coordinator.jobFinished && coordinator.confirmed.job == nil)
        #expect(coordinator.confirmed.completedInitial == [users] && coordinator.confirmed.lastFinishedJobID == "job")
        #expect(coordinator.isIdle)
    }
}
