import Configuration
import EventMapping
import Foundation
import PostgresReplication
import Testing
@testable import WalBridge
import SeededRandom

/// The backfill's promise, checked against a model of Postgres: for every key,
/// the last record on Kafka is the table's final state (a deleted key ends in
/// its delete or has no record). Each case is a seeded random interleaving of
///
/// - writers (one to four) committing single-row updates, deletes and inserts:
///   an xid is taken when a statement runs, the commit record is written to the
///   WAL, and only later the transaction becomes visible (leaves the proc
///   array), so a commit record may precede a low mark and a SELECT still not
///   see it; xids are not committed in their order;
/// - the reader: low mark, a `REPEATABLE READ` snapshot (xmin, xmax, xip as
///   `pg_current_snapshot()` makes them) and its SELECT, the chunk put into the
///   real `SnapshotChannel` (waiting while `capacity` chunks are queued: read-ahead),
///   high mark; every mark is a transaction with an xid of its own;
/// - the pipeline reading the WAL in order, behind the writers by any amount:
///   every change goes to the real `SnapshotCoordinator.record` with its
///   transaction's xid and to Kafka, every high mark to `highWatermark`, whose
///   records go to Kafka; Kafka acknowledges in order, later;
/// - in some cases a crash (kill -9) of the bridge: Kafka keeps what was
///   acknowledged plus any part of the rest, and a new session starts from the
///   checkpoint (the acknowledged position and the confirmed backfill progress)
///   with a new reader session, streaming the WAL again from there.
///
/// The model is small on purpose (a few dozen keys, chunks of 1 to 8 rows), so
/// that thousands of cases explore many orders quickly; a failure prints its seed.
@Suite("Snapshot drop rule: model of writers, chunk windows, read-ahead and restarts")
struct SnapshotDropRuleModelTests {
    static let cases = 4_000

    @Test("every key's last record is the table's final state, in thousands of random interleavings")
    func promiseHolds() throws {
        var failures: [String] = []
        var totals = SnapshotModel.Totals()
        for seed in 1...UInt64(Self.cases) {
            var model = try SnapshotModel(seed: seed)
            let outcome = try model.run()
            totals.add(outcome)
            if !outcome.wrong.isEmpty { failures.append("seed \(seed) (\(model.parameters)): \(outcome.wrong.prefix(3))") }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(Self.cases) cases end with a key whose last record is not the table's, e.g. \(failures.prefix(3))")
        #expect(totals.dropped > 0 && totals.snapshotRows > 0 && totals.restarts > 0 && totals.notYetVisibleBeforeLow > 0,
                "the cases cover dropped rows, restarts and commits before a low mark that the SELECT does not see: \(totals)")
        print("snapshot drop-rule model: \(Self.cases) cases, \(totals)")
    }

    @Test("the model catches a broken drop rule or a change the pipeline does not record", arguments: SnapshotModel.Breakage.allCases)
    func modelCatchesBreakage(_ breakage: SnapshotModel.Breakage) throws {
        var failing = 0
        for seed in 1...UInt64(400) {
            var model = try SnapshotModel(seed: seed, breakage: breakage)
            if try !model.run().wrong.isEmpty { failing += 1 }
        }
        #expect(failing > 0, "\(breakage): no case failed, so the model could not tell")
        print("snapshot drop-rule model with \(breakage): \(failing) of 400 cases fail")
    }
}

/// One random case of the model (see `SnapshotDropRuleModelTests`).
struct SnapshotModel {
    /// Deliberate defects, to show that the model can fail.
    enum Breakage: String, CaseIterable, CustomStringConvertible {
        /// The drop rule trusts the SELECT to have seen every transaction that
        /// was running at its snapshot (it ignores `xip`).
        case ignoresInProgress
        /// The drop rule considers only the changes streamed between the chunk's
        /// low and high marks (DBLog by position, without the snapshot).
        case onlyBetweenMarks
        /// Deletes are not recorded (their key read from the wrong row).
        case deletesNotRecorded
        /// Records are forgotten by the xmax of the chunk rather than its xmin.
        case prunesByXmax

        var description: String { rawValue }
    }

    struct Totals: CustomStringConvertible {
        var keys = 0, snapshotRows = 0, streamed = 0, dropped = 0, restarts = 0, notYetVisibleBeforeLow = 0, wrong = 0
        mutating func add(_ outcome: Outcome) {
            keys += outcome.keys; snapshotRows += outcome.snapshotRows; streamed += outcome.streamed
            dropped += outcome.dropped; restarts += outcome.restarts; wrong += outcome.wrong.count
            notYetVisibleBeforeLow += outcome.notYetVisibleBeforeLow
        }
        var description: String {
            "\(keys) keys compared, \(wrong) wrong; \(snapshotRows) snapshot rows published, \(dropped) dropped to the stream, \(streamed) streamed changes, \(restarts) restarts, \(notYetVisibleBeforeLow) commits before a low mark not seen by its SELECT"
        }
    }

    struct Outcome {
        var keys = 0, snapshotRows = 0, streamed = 0, dropped = 0, restarts = 0, notYetVisibleBeforeLow = 0
        var wrong: [String] = []
    }

    enum Operation { case insert, update, delete }
    struct Change { var operation: Operation; var key: Int64; var version: Int }
    enum Entry {
        case commit(xid: UInt32, change: Change)
        case mark(xid: UInt32, SnapshotWatermark)
    }

    /// A writer's transaction: running (its row locked), or committed in the
    /// WAL but not yet visible.
    struct Writing { var xid: UInt32; var change: Change; var inWAL: Bool }

    enum ReaderPhase {
        case low
        case select
        case put(SnapshotChunk)
        case high(last: Bool, lastKey: Int64?)
        case done
    }

    /// A record on Kafka: the key, its state (nil: deleted), and the WAL entry it was produced for.
    struct Record { var key: Int64; var version: Int?; var entry: Int }

    let breakage: Breakage?
    var random: SplitMix64
    let keyCount: Int64
    let chunkSize: Int
    let capacity: Int
    let writerCount: Int
    let crashes: Bool
    var parameters: String { "\(keyCount) keys, chunk \(chunkSize), channel \(capacity), \(writerCount) writers\(crashes ? ", crash" : "")" }

    let mapper: EventMapper
    let users = QualifiedName(schema: "public", table: "users")
    let streamRelation: Relation
    let chunkRelation: Relation

    // Postgres.
    var table: [Int64: Int] = [:]
    var nextXid: UInt32 = 1_000
    var latestCompleted: UInt32 = 999
    var writers: [Writing?]
    var wal: [Entry] = []
    var nextVersion = 1
    var nextInsertKey: Int64

    // The bridge.
    var coordinator: SnapshotCoordinator
    var session: UInt64 = 1
    var readerPhase = ReaderPhase.low
    var sequence = 0
    var lastKey: Int64?
    var queued = 0
    /// WAL index of each low mark of this session, by sequence.
    var lowMarkIndex: [Int: Int] = [:]
    var position = 0
    var acknowledged = 0
    var kafka: [Record] = []
    var outcome = Outcome()
    var crashed = false
    /// Low marks of this session streamed without their high mark yet (for `onlyBetweenMarks`).
    var openWindows: Set<Int> = []

    init(seed: UInt64, breakage: Breakage? = nil) throws {
        self.breakage = breakage
        random = SplitMix64(seed: (seed &* 0x2545_F491_4F6C_DD1D) &+ 0x9E37_79B9_7F4A_7C15)  // the seeding these histories were written with
        keyCount = 4 + Int64(random.next() % 40)
        chunkSize = 1 + Int(random.next() % 8)
        capacity = 1 + Int(random.next() % 3)
        writerCount = 1 + Int(random.next() % 4)
        crashes = random.next() % 3 == 0
        writers = Array(repeating: nil, count: writerCount)
        nextInsertKey = keyCount + 1
        for key in 1...keyCount { table[key] = 0 }
        let yaml = """
        postgres: {url: "postgres://x@127.0.0.1/auth", slot: s}
        kafka: {bootstrap_servers: "127.0.0.1:9092"}
        mappings:
          - table: public.users
            topic: users
            key: [id]
            events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
            fields: {id: userId, username: username}
        """
        mapper = try EventMapper(configuration: BridgeConfiguration.parse(yaml: yaml, source: "t.yaml", environment: [:]),
                                 systemID: "1", database: "auth")
        // The stream's relation (a real id) and the reader's (id 0, its SELECT's columns).
        streamRelation = Relation(id: 16_384, schema: "public", name: "users", replicaIdentity: .default, columns: [
            .init(name: "id", typeOID: 20, typeModifier: -1, isKey: true),
            .init(name: "username", typeOID: 25, typeModifier: -1, isKey: false),
        ])
        chunkRelation = Relation(id: 0, schema: "public", name: "users", replicaIdentity: .default, columns: [
            .init(name: "id", typeOID: 20, typeModifier: -1, isKey: true),
            .init(name: "username", typeOID: 25, typeModifier: -1, isKey: false),
        ])
        let job = SnapshotState.Job(id: "job", origin: .command, filter: nil, tables: [.init(table: users, estimatedRows: Int(keyCount))])
        coordinator = SnapshotCoordinator(state: SnapshotState(job: job), channel: SnapshotChannel(capacity: capacity), session: session)
    }

    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }

    // MARK: - Running a case

    mutating func run() throws -> Outcome {
        var steps = 0
        while steps < 20_000 {
            steps += 1
            let readerDone: Bool
            if case .done = readerPhase { readerDone = true } else { readerDone = false }
            if readerDone && coordinator.confirmed.job == nil && position == wal.count { break }
            switch random.next() % 10 {
            case 0...3: writerStep(Int(random.next() % UInt64(writerCount)))
            case 4...5: try readerStep()
            case 6...7: try pipelineStep()
            case 8: acknowledgeStep()
            default:
                if crashes && !crashed && chance(10) { try crash() } else { try pipelineStep() }
            }
        }
        // The writers finish; the stream catches up; Kafka acknowledges everything.
        for index in 0..<writerCount {
            while writers[index] != nil { writerStep(index) }
        }
        while position < wal.count { try pipelineStep() }
        if coordinator.confirmed.job != nil {
            while acknowledged < position { acknowledgeStep() }
            if coordinator.confirmed.job != nil { outcome.wrong.append("the job did not finish") }
        }
        return check()
    }

    /// A writer: runs a statement (takes an xid, locks the row), writes its
    /// commit record, or becomes visible.
    mutating func writerStep(_ index: Int) {
        guard var writing = writers[index] else {
            guard chance(70) else { return }
            let locked = Set(writers.compactMap { $0?.change.key })
            let key: Int64
            if chance(8) {
                key = nextInsertKey
                nextInsertKey += 1
            } else {
                key = 1 + Int64(random.next() % UInt64(nextInsertKey - 1))
            }
            guard !locked.contains(key) else { return }
            let operation: Operation = table[key] == nil ? .insert : (chance(55) ? .update : .delete)
            let change = Change(operation: operation, key: key, version: nextVersion)
            nextVersion += 1
            writers[index] = Writing(xid: takeXid(), change: change, inWAL: false)
            return
        }
        if !writing.inWAL {
            wal.append(.commit(xid: writing.xid, change: writing.change))
            writing.inWAL = true
            writers[index] = writing
        } else {
            switch writing.change.operation {
            case .insert, .update: table[writing.change.key] = writing.change.version
            case .delete: table[writing.change.key] = nil
            }
            complete(writing.xid)
            writers[index] = nil
        }
    }

    mutating func takeXid() -> UInt32 {
        defer { nextXid += 1 }
        return nextXid
    }

    mutating func complete(_ xid: UInt32) {
        if SnapshotVisibility.precedes(latestCompleted, xid) { latestCompleted = xid }
    }

    /// `pg_current_snapshot()`: xmax is the latest completed xid + 1; xip the
    /// running ones below it (committed in the WAL or not); xmin the oldest running.
    func currentSnapshot() -> SnapshotVisibility {
        let xmax = latestCompleted &+ 1
        let running = writers.compactMap { $0?.xid }.filter { SnapshotVisibility.precedes($0, xmax) }
        return SnapshotVisibility(xmin: running.min() ?? xmax, xmax: xmax, inProgress: Set(running))
    }

    mutating func readerStep() throws {
        switch readerPhase {
        case .low:
            sequence += 1
            lowMarkIndex[sequence] = wal.count
            emit(.low)
            readerPhase = .select
        case .select:
            var visibility = currentSnapshot()
            // Commits in the WAL before the low mark that this SELECT does not see.
            let lowIndex = lowMarkIndex[sequence] ?? 0
            outcome.notYetVisibleBeforeLow += writers.compactMap { $0 }.filter { writing in
                writing.inWAL && visibility.isInvisible(writing.xid) && wal.prefix(lowIndex).contains { entry in
                    if case .commit(let xid, _) = entry { return xid == writing.xid }
                    return false
                }
            }.count
            let keys = table.keys.filter { lastKey == nil || $0 > lastKey! }.sorted().prefix(chunkSize)
            let rows: [Row] = keys.map { [.value(.int($0)), .value(.string("v\(table[$0]!)"))] }
            if breakage == .ignoresInProgress { visibility.inProgress = [] }
            if breakage == .prunesByXmax { visibility.xmin = visibility.xmax }
            let chunk = SnapshotChunk(
                session: session, sequence: sequence, tableIndex: 0, relation: chunkRelation, rows: rows,
                lastKey: keys.last.map { [String($0)] }, isLastOfTable: rows.count < chunkSize, visibility: visibility)
            readerPhase = .put(chunk)
        case .put(let chunk):
            // The reader waits while the channel is full.
            guard queued < capacity else { return }
            #expect(coordinator.channel.put(chunk))
            queued += 1
            readerPhase = .high(last: chunk.isLastOfTable, lastKey: chunk.lastKey.flatMap { Int64($0[0]) })
        case .high(let last, let key):
            emit(.high)
            if let key { lastKey = key }
            readerPhase = last ? .done : .low
        case .done:
            return
        }
    }

    mutating func emit(_ mark: SnapshotWatermark.Mark) {
        let xid = takeXid()
        wal.append(.mark(xid: xid, SnapshotWatermark(mark: mark, session: session, sequence: sequence)))
        complete(xid)
    }

    func lsn(_ index: Int) -> LSN { LSN(UInt64(0x10_0000 + index * 0x100)) }
    func endLSN(_ index: Int) -> LSN { LSN(UInt64(0x10_0000 + index * 0x100 + 0x80)) }

    /// The pipeline handles the next WAL entry (one transaction).
    mutating func pipelineStep() throws {
        guard position < wal.count else { return }
        let index = position
        position += 1
        switch wal[index] {
        case .commit(let xid, let change):
            let rowChange: RowChange
            switch change.operation {
            case .insert:
                rowChange = RowChange(operation: .insert, relation: streamRelation, new: row(change), old: nil, oldKind: nil, ordinal: 0)
            case .update:
                rowChange = RowChange(operation: .update, relation: streamRelation, new: row(change), old: nil, oldKind: nil, ordinal: 0)
            case .delete:
                // REPLICA IDENTITY DEFAULT: the old key only, the other columns null.
                rowChange = RowChange(operation: .delete, relation: streamRelation, new: nil,
                                      old: [.value(.int(change.key)), .value(.null)], oldKind: .key, ordinal: 0)
            }
            switch breakage {
            case .deletesNotRecorded where change.operation == .delete: break
            case .onlyBetweenMarks where openWindows.isEmpty: break
            default: coordinator.record(xid: xid, change: rowChange, mapper: mapper)
            }
            kafka.append(Record(key: change.key, version: change.operation == .delete ? nil : change.version, entry: index))
            outcome.streamed += 1
        case .mark(let xid, let watermark):
            guard watermark.session == session else { break }
            guard watermark.mark == .high else {
                openWindows.insert(watermark.sequence)
                break
            }
            openWindows.remove(watermark.sequence)
            let transaction = TransactionInfo(commitLSN: lsn(index), commitTimeMicros: 0, xid: xid)
            guard let chunkOutcome = coordinator.highWatermark(watermark, transaction: transaction, mapper: mapper) else { break }
            queued -= 1
            outcome.dropped += chunkOutcome.dropped
            for record in chunkOutcome.records {
                let key = try #require(Int64(String(decoding: record.key ?? [], as: UTF8.self)))
                kafka.append(Record(key: key, version: try Self.version(of: record), entry: index))
                outcome.snapshotRows += 1
            }
        }
        coordinator.committed(endLSN: endLSN(index))
    }

    func row(_ change: Change) -> Row { [.value(.int(change.key)), .value(.string("v\(change.version)"))] }

    static func version(of record: EventRecord) throws -> Int {
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(record.value ?? [])) as? [String: Any])
        let data = try #require(envelope["data"] as? [String: Any])
        let username = try #require(data["username"] as? String)
        return try #require(Int(username.dropFirst()))
    }

    /// Kafka acknowledges the next transaction's records; its progress is confirmed.
    mutating func acknowledgeStep() {
        guard acknowledged < position else { return }
        acknowledged += 1
        _ = coordinator.confirm(upTo: endLSN(acknowledged - 1))
    }

    /// kill -9: Kafka keeps the acknowledged records and any prefix of the
    /// rest; the next session starts from the checkpoint.
    mutating func crash() throws {
        crashed = true
        outcome.restarts += 1
        // A commit record is followed within microseconds by the transaction
        // becoming visible, far sooner than a bridge restarts; only a
        // synchronous standby that stops answering stretches that (a limit
        // docs/snapshots.md names). So the next session's reader sees them.
        for index in 0..<writerCount where writers[index]?.inWAL == true { writerStep(index) }
        let firstUnacknowledged = kafka.firstIndex { $0.entry >= acknowledged } ?? kafka.count
        let kept = firstUnacknowledged + Int(random.next() % UInt64(kafka.count - firstUnacknowledged + 1))
        kafka.removeSubrange(kept...)
        let checkpoint = coordinator.confirmed
        coordinator.channel.cancel()
        session += 1
        coordinator = SnapshotCoordinator(state: checkpoint, channel: SnapshotChannel(capacity: capacity), session: session)
        lowMarkIndex = [:]
        sequence = 0
        queued = 0
        openWindows = []
        position = acknowledged
        if let resumed = checkpoint.job {
            lastKey = resumed.tables[0].lastKey.flatMap { Int64($0[0]) }
            readerPhase = resumed.tables[0].done ? .done : .low
        } else {
            readerPhase = .done
        }
    }

    /// Every key: its last record on Kafka against the table.
    mutating func check() -> Outcome {
        var last: [Int64: Int?] = [:]
        for record in kafka { last[record.key] = .some(record.version) }
        for key in 1..<nextInsertKey {
            outcome.keys += 1
            let expected = table[key]
            let seen: Int?? = last[key]
            switch (expected, seen) {
            case (nil, nil), (nil, .some(nil)): continue
            case (let version?, .some(let got?)) where got == version: continue
            default:
                outcome.wrong.append("key \(key): table \(expected.map(String.init) ?? "deleted"), last record \(seen.map { $0.map(String.init) ?? "deleted" } ?? "none")")
            }
        }
        return outcome
    }
}
