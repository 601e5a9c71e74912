@testable import KafkaPublisher
import PostgresReplication
@testable import WalBridge
import SeededRandom

// A seeded simulation of WalBridge's delivery: generated WAL histories played
// through `DeliveryCore` by a small shell like `StreamPipeline`'s, against an
// in-memory replication source and record sink that deliver in random order,
// fail records, fill their queue and crash. Each run records the violations of
// delivery invariants (docs/delivery.md "The promises") it saw; the property tests in
// `DeliveryCoreProperties` run thousands of seeds per invariant.

/// The delivery invariants a run checks (docs/delivery.md "The promises", plus
/// the prompt flush report of invariant 2 and the replay window).
enum Invariant: String, CaseIterable, Sendable {
    case order, noLoss, idleSlot, restart, backpressure, deadLetters, replayWindow, promptFlush
}

/// What happens to an event on its way to Kafka.
enum Fate: Sendable {
    case ok
    /// The broker refuses it for good when it is produced (too large for `produce`).
    case permanentAtProduce
    /// The broker refuses it for good in its delivery report.
    case permanentInReport
    /// Its first delivery fails with a retriable error (the session restarts).
    case transientOnce
}

/// One generated history: WAL units, the fate of each event, and the session's limits.
struct GeneratedHistory {
    struct Unit {
        var commitLSN: LSN
        var endLSN: LSN
        var transactional: Bool
        /// Event ids per logical message (a message may become several records, like a backfill chunk).
        var messages: [[Int]]
    }

    static let maxRecordsPerMessage = 3
    static let step: UInt64 = 30_000_000  // at most 30 ms of clock per loop turn

    var units: [Unit] = []
    var fates: [Fate] = []
    var unitOfEvent: [Int] = []
    /// The stream as the walsender sends it, each item with its position (for where a session starts).
    var wal: [(event: ReplicationEvent, position: LSN)] = []
    var finalKeepalive: LSN = .zero
    var maxInflight = 8
    var sinkCapacity = 4
    var replayWindow: UInt64 = 0
    var checkpointInterval: UInt64 = 100_000_000
    var deadLetters = true
    var crashSteps: Set<Int> = []

    init(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        deadLetters = Int.random(in: 0..<10, using: &random) > 0
        maxInflight = Int.random(in: 1...12, using: &random)
        // A small queue makes Kafka's queue the limit; a large one, the in-flight bound.
        sinkCapacity = Int.random(in: 0..<3, using: &random) == 0 ? 50 : Int.random(in: 1...8, using: &random)
        replayWindow = Bool.random(using: &random) ? 0 : UInt64.random(in: 1...400, using: &random) * 1_000_000
        checkpointInterval = UInt64.random(in: 20...150, using: &random) * 1_000_000
        for _ in 0..<Int.random(in: 0...3, using: &random) { crashSteps.insert(Int.random(in: 1...300, using: &random)) }
        let unitCount = Int.random(in: 1...25, using: &random)
        for index in 0..<unitCount {
            let commit = LSN(UInt64(1_000 + 100 * index + 50))
            let transactional = Int.random(in: 0..<8, using: &random) > 0
            let end = transactional ? LSN(commit.value + 20) : commit
            var unit = Unit(commitLSN: commit, endLSN: end, transactional: transactional, messages: [])
            if transactional {
                wal.append((.message(.begin(finalLSN: commit, commitTimeMicros: 0, xid: UInt32(index + 1)), walStart: LSN(commit.value - 40)), end))
                let messages = Int.random(in: 0...3, using: &random)
                for number in 0..<messages {
                    var ids: [Int] = []
                    for _ in 0..<Int.random(in: 1...Self.maxRecordsPerMessage, using: &random) { ids.append(newEvent(index, &random)) }
                    unit.messages.append(ids)
                    let lsn = LSN(commit.value - 30 + UInt64(number))
                    wal.append((.message(.message(LogicalMessage(transactional: true, lsn: lsn, prefix: "e", content: Self.encode(ids))), walStart: lsn), end))
                    if Int.random(in: 0..<6, using: &random) == 0 {
                        // The walsender's keepalive in the middle of a transaction.
                        wal.append((.keepalive(walEnd: LSN(commit.value - 5)), end))
                    }
                }
                wal.append((.message(.commit(flags: 0, commitLSN: commit, endLSN: end, commitTimeMicros: 0), walStart: commit), end))
            } else {
                let ids = [newEvent(index, &random)]
                unit.messages.append(ids)
                wal.append((.message(.message(LogicalMessage(transactional: false, lsn: end, prefix: "e", content: Self.encode(ids))), walStart: end), end))
            }
            units.append(unit)
            if Int.random(in: 0..<3, using: &random) == 0 {
                wal.append((.keepalive(walEnd: LSN(end.value + 10)), LSN(end.value + 10)))
            }
        }
        let last = units.last!.endLSN
        finalKeepalive = LSN(last.value + 20)
        wal.append((.keepalive(walEnd: finalKeepalive), finalKeepalive))
    }

    private mutating func newEvent(_ unit: Int, _ random: inout SplitMix64) -> Int {
        let roll = Int.random(in: 0..<100, using: &random)
        var fate: Fate = roll < 4 ? .permanentAtProduce : roll < 10 ? .permanentInReport : roll < 17 ? .transientOnce : .ok
        if !deadLetters && (fate == .permanentAtProduce || fate == .permanentInReport) { fate = .ok }
        fates.append(fate)
        unitOfEvent.append(unit)
        return fates.count - 1
    }

    static func encode(_ ids: [Int]) -> [UInt8] {
        ids.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
    }

    static func decode(_ bytes: [UInt8]) -> [Int] {
        stride(from: 0, to: bytes.count, by: 2).map { Int(bytes[$0]) | Int(bytes[$0 + 1]) << 8 }
    }
}

/// What outlives a session: the checkpoint file, the slot, Kafka's topics, the clock.
final class SimulatedWorld {
    let history: GeneratedHistory
    var random: SplitMix64
    var now: UInt64 = 1_000_000_000
    var step = 0
    var checkpoint: LSN = LSN(900)
    var slotConfirmed: LSN = LSN(900)
    /// What Kafka holds: every acknowledged record, with the checkpoint its session started from.
    var log: [(id: Int, deadLetter: Bool, sessionStart: LSN)] = []
    var attempts: [Int]
    var violations: [Invariant: String] = [:]
    var sessions = 0
    /// The run was cut short (stalled): the end-of-history checks do not apply.
    var gaveUp = false

    init(_ history: GeneratedHistory, seed: UInt64) {
        self.history = history
        random = SplitMix64(seed: seed ^ 0x5DEE_CE66_D)
        attempts = Array(repeating: 0, count: history.fates.count)
    }

    func violate(_ invariant: Invariant, _ message: @autoclosure () -> String) {
        if violations[invariant] == nil { violations[invariant] = message() }
    }

    /// True when every event of every unit ending at or below `lsn` is in Kafka (as itself or as its dead letter).
    func everythingDelivered(upTo lsn: LSN) -> Int? {
        let inKafka = Set(log.map(\.id))
        for (index, unit) in history.units.enumerated() where unit.endLSN <= lsn {
            for id in unit.messages.joined() where !inKafka.contains(id) { return index }
        }
        return nil
    }
}

/// The replication source: replays the WAL from the slot's position, as Postgres does.
final class FakeReplicationSource: ReplicationSource {
    private let wal: [(event: ReplicationEvent, position: LSN)]
    private var index: Int
    private let world: SimulatedWorld
    private var insideRead = false
    private(set) var statusRequests = 0
    private(set) var reentered = false
    var bytesReceived: UInt64 = 0

    init(world: SimulatedWorld) {
        self.world = world
        wal = world.history.wal
        index = wal.firstIndex { $0.position > world.slotConfirmed } ?? wal.count
    }

    var exhausted: Bool { index >= wal.count }
    private var finalKeepalive: LSN { world.history.finalKeepalive }

    @discardableResult
    func read<E: Error>(limit: Int, waitMilliseconds: Int32, _ handler: (ReplicationEvent) throws(E) -> Void) throws(ReplicationStreamError<E>) -> Int {
        insideRead = true
        defer { insideRead = false }
        guard index < wal.count else {
            // Past the end of the WAL: the walsender's periodic keepalive.
            do throws(E) { try handler(.keepalive(walEnd: finalKeepalive)) } catch { throw .handler(error) }
            return 1
        }
        var handled = 0
        while handled < limit, index < wal.count {
            let event = wal[index].event
            index += 1
            handled += 1
            bytesReceived += 10
            do throws(E) { try handler(event) } catch { throw .handler(error) }
        }
        return handled
    }

    func confirm(_ lsn: LSN) {
        if insideRead { reentered = true }
        if lsn > world.checkpoint { world.violate(.noLoss, "slot confirmed to \(lsn) past the checkpoint \(world.checkpoint)") }
        if lsn > world.slotConfirmed { world.slotConfirmed = lsn }
    }

    func sendStatusIfDue() throws(PostgresError) {
        if insideRead { reentered = true }
        statusRequests += 1
    }

    func sendStatus(replyRequested: Bool) throws(PostgresError) {
        if insideRead { reentered = true }
        statusRequests += 1
    }
}

/// The record sink: a bounded queue whose records are acknowledged or failed
/// in random order, by the fate of each event.
final class FakeRecordSink: RecordSink {
    static let deadLetterTopic = "dead-letters"
    private struct InFlight {
        var token: UInt64
        var id: Int
        var deadLetter: Bool
    }

    private var inFlight: [InFlight] = []
    private let world: SimulatedWorld
    private let sessionStart: LSN

    init(world: SimulatedWorld, sessionStart: LSN) {
        self.world = world
        self.sessionStart = sessionStart
    }

    var queued: Int { inFlight.count }

    func produce(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], token: UInt64) throws(KafkaError) {
        // Full by count, or (like librdkafka's byte bound) too large for the bytes left now.
        guard inFlight.count < world.history.sinkCapacity, Int.random(in: 0..<8, using: &world.random) > 0 else {
            throw KafkaError(code: .queueFull, kind: .produce, message: "queue full")
        }
        let id = GeneratedHistory.decode(key ?? [])[0]
        let deadLetter = topic == Self.deadLetterTopic
        if !deadLetter {
            world.attempts[id] += 1
            if world.history.fates[id] == .permanentAtProduce {
                throw KafkaError(code: .messageSizeTooLarge, kind: .produce, message: "too large")
            }
        }
        inFlight.append(InFlight(token: token, id: id, deadLetter: deadLetter))
    }

    @discardableResult
    func poll(timeoutMilliseconds: Int32, into reports: inout [DeliveryReport]) -> Int {
        let count = Int.random(in: 0...inFlight.count, using: &world.random)
        for _ in 0..<count {
            let record = inFlight.remove(at: Int.random(in: 0..<inFlight.count, using: &world.random))
            let failed = FailedRecord(topic: record.deadLetter ? Self.deadLetterTopic : "events", key: GeneratedHistory.encode([record.id]), value: nil)
            if !record.deadLetter && world.history.fates[record.id] == .permanentInReport {
                reports.append(DeliveryReport(token: record.token, error: KafkaError(code: .messageSizeTooLarge, kind: .delivery, message: "too large"),
                                              partition: 0, offset: -1, failedRecord: failed))
            } else if !record.deadLetter && world.history.fates[record.id] == .transientOnce && world.attempts[record.id] == 1 {
                reports.append(DeliveryReport(token: record.token, error: KafkaError(code: .requestTimedOut, kind: .delivery, message: "timed out"),
                                              partition: 0, offset: -1, failedRecord: failed))
            } else {
                world.log.append((record.id, record.deadLetter, sessionStart))
                reports.append(DeliveryReport(token: record.token, error: nil, partition: 0, offset: 0))
            }
        }
        return count
    }

    func fatalError() -> KafkaError? { nil }

    /// The process died (or the producer was closed): each record in flight was delivered or not.
    func crash() {
        for record in inFlight where Bool.random(using: &world.random)
            && (record.deadLetter || world.history.fates[record.id] != .permanentInReport) {
            world.log.append((record.id, record.deadLetter, sessionStart))
        }
        inFlight.removeAll()
    }
}

/// One process lifetime: `StreamPipeline`'s shell in miniature, over the fakes.
struct SimulatedSession {
    enum End { case finished, crashed, stopped }
    private struct Pending {
        var token: DeliveryToken
        var id: Int
        var deadLetter: Bool
    }
    private struct Stop: Error {}

    let world: SimulatedWorld
    var core: DeliveryCore
    let source: FakeReplicationSource
    let sink: FakeRecordSink
    let start: LSN
    private var backlog: [Pending] = []
    private var reports: [DeliveryReport] = []
    private var lastProduced = -1
    /// `delivered` over time, to check the replay window.
    private var deliveredAt: [(lsn: LSN, at: UInt64)] = []
    /// Since when `delivered` is ahead of the checkpoint.
    private var aheadSince: UInt64?
    /// A keepalive came past the end of the WAL with nothing open or outstanding: the history is played.
    private var sawIdleKeepaliveAtEnd = false

    init(world: SimulatedWorld) {
        self.world = world
        start = world.checkpoint
        var settings = DeliveryCore.Settings(start: start, skipBelow: start, checkpointed: start)
        settings.replayWindow = .nanoseconds(Int64(world.history.replayWindow))
        settings.checkpointInterval = .nanoseconds(Int64(world.history.checkpointInterval))
        settings.maxInflightEvents = world.history.maxInflight
        settings.deadLetters = world.history.deadLetters
        core = DeliveryCore(settings, now: world.now)
        source = FakeReplicationSource(world: world)
        sink = FakeRecordSink(world: world, sessionStart: start)
        world.sessions += 1
    }

    mutating func run() -> End {
        let history = world.history
        // Sessions end on crashes and on each first failure of a `transientOnce` event, no more.
        let transient = history.fates.filter { $0 == .transientOnce }.count
        while true {
            world.step += 1
            if world.step > 20_000 || world.sessions > history.crashSteps.count + transient + 2 {
                world.violate(.deadLetters, "the stream stalled: not finished after \(world.step) turns and \(world.sessions) sessions")
                world.gaveUp = true
                return .finished
            }
            if history.crashSteps.contains(world.step) {
                sink.crash()
                return .crashed
            }
            world.now += UInt64.random(in: 0...GeneratedHistory.step, using: &world.random)
            do throws(Stop) {
                try serveReports()
                try flushBacklog()
                observeDelivered()
                if case .read = core.readDecision {
                    let outstandingBefore = core.outstandingEvents
                    let source = self.source
                    do {
                        try source.read(limit: Int.random(in: 1...4, using: &world.random), waitMilliseconds: 0) { (event: ReplicationEvent) throws(Stop) in
                            try self.handle(event)
                        }
                    } catch {
                        throw Stop()
                    }
                    if core.outstandingEvents > history.maxInflight + GeneratedHistory.maxRecordsPerMessage * 4,
                       core.outstandingEvents > outstandingBefore {
                        world.violate(.backpressure, "\(core.outstandingEvents) events outstanding with a bound of \(history.maxInflight)")
                    }
                }
                if backlog.count > GeneratedHistory.maxRecordsPerMessage * 4 + history.sinkCapacity {
                    world.violate(.backpressure, "\(backlog.count) records waiting for Kafka's queue")
                }
                observeDelivered()
            } catch {
                // A failure the core says to stop on: the pipeline throws, `Bridge`
                // keeps what was delivered (a forced checkpoint) and starts again.
                sink.crash()
                if core.delivered > world.checkpoint {
                    checkWrite(core.delivered)
                    world.checkpoint = core.delivered
                }
                return .stopped
            }
            if sawIdleKeepaliveAtEnd && backlog.isEmpty && core.isIdle, case .streaming = core.phase {
                core.stop(now: world.now, timeout: .seconds(5))
            }
            let statusBefore = source.statusRequests
            let paused = core.readDecision == .pause
            if performTick() { return .finished }
            if paused && source.statusRequests == statusBefore {
                world.violate(.backpressure, "reading paused without a status update")
            }
            checkPrompt()
        }
    }

    private mutating func handle(_ event: ReplicationEvent) throws(Stop) {
        switch event {
        case .keepalive(let walEnd):
            if source.exhausted && core.isIdle { sawIdleKeepaliveAtEnd = true }
            core.keepalive(walEnd: walEnd)
        case .message(let message, _):
            switch message {
            case .begin(let finalLSN, _, let xid):
                _ = core.begin(TransactionInfo(commitLSN: finalLSN, commitTimeMicros: 0, xid: xid))
            case .message(let logical) where logical.transactional:
                guard let token = core.token(label: 0) else { return }
                for id in GeneratedHistory.decode(logical.content) { try enqueue(id, token: token) }
            case .message(let logical):
                guard core.beginMessage(lsn: logical.lsn), let token = core.token(label: 0) else { return }
                for id in GeneratedHistory.decode(logical.content) { try enqueue(id, token: token) }
                _ = core.commit(endLSN: logical.lsn)
            case .commit(_, _, let endLSN, _):
                _ = core.commit(endLSN: endLSN)
            default:
                break
            }
        }
    }

    private mutating func enqueue(_ id: Int, token: DeliveryToken) throws(Stop) {
        let unit = world.history.units[world.history.unitOfEvent[id]]
        if unit.endLSN <= start && !Self.republishedAtResumePoint(unit, start: start) {
            world.violate(.restart, "event \(id) of a transaction ending at \(unit.endLSN) produced again after a restart from \(start)")
        }
        core.enqueued(token, bytes: 10, now: world.now)
        try hand(Pending(token: token, id: id, deadLetter: false))
    }

    /// A non-transactional message exactly at the resume point is published
    /// again (`lsn >= skipBelow`, as before the core): a keepalive's WAL end
    /// can equal the start of a message not yet delivered, so skipping it
    /// could lose it; a duplicate keeps its event id.
    static func republishedAtResumePoint(_ unit: GeneratedHistory.Unit, start: LSN) -> Bool {
        !unit.transactional && unit.endLSN == start
    }

    /// Hands a record to the sink, or queues it behind those Kafka's full queue refused.
    private mutating func hand(_ record: Pending) throws(Stop) {
        if core.sinkFull {
            backlog.append(record)
            return
        }
        if let refused = try produce(record) {
            core.sinkRefused()
            backlog.append(refused)
        }
    }

    /// Produces `record` (or its dead letter); returns what the full queue refused.
    private mutating func produce(_ record: Pending) throws(Stop) -> Pending? {
        var record = record
        while true {
            do {
                try sink.produce(topic: record.deadLetter ? FakeRecordSink.deadLetterTopic : "events",
                                 key: GeneratedHistory.encode([record.id]), value: nil, headers: [], token: record.token.rawValue)
                if !record.deadLetter {
                    if record.id < lastProduced { world.violate(.order, "event \(record.id) handed to Kafka after event \(lastProduced)") }
                    lastProduced = max(lastProduced, record.id)
                }
                return nil
            } catch {
                if error.isQueueFull { return record }
                switch core.failed(record.token, permanent: error.isPermanent, isDeadLetter: record.deadLetter) {
                case .deadLetter: record.deadLetter = true
                case .stop: throw Stop()
                }
            }
        }
    }

    private mutating func flushBacklog() throws(Stop) {
        while !backlog.isEmpty {
            if let refused = try produce(backlog[0]) {
                backlog[0] = refused
                return
            }
            backlog.removeFirst()
        }
        if core.sinkFull { core.sinkAccepting() }
    }

    private mutating func serveReports() throws(Stop) {
        reports.removeAll(keepingCapacity: true)
        sink.poll(timeoutMilliseconds: 0, into: &reports)
        for report in reports {
            let token = DeliveryToken(rawValue: report.token)
            guard let error = report.error else {
                _ = core.acknowledged(token)
                continue
            }
            let isDeadLetter = report.failedRecord?.topic == FakeRecordSink.deadLetterTopic
            switch core.failed(token, permanent: error.isPermanent, isDeadLetter: isDeadLetter) {
            case .deadLetter:
                let id = GeneratedHistory.decode(report.failedRecord?.key ?? [])[0]
                try hand(Pending(token: token, id: id, deadLetter: true))
            case .stop:
                throw Stop()
            }
        }
    }

    /// Runs a round of the core's time-driven actions; true when the session finished.
    private mutating func performTick() -> Bool {
        var action = core.tick(now: world.now)
        while true {
            switch action {
            case .none:
                return false
            case .writeCheckpoint(let lsn):
                checkWrite(lsn)
                if lsn > world.checkpoint { world.checkpoint = lsn }
                aheadSince = nil
                action = core.checkpointWritten(lsn, now: world.now)
            case .confirm(let lsn):
                checkConfirm(lsn)
                source.confirm(lsn)
                action = core.performed(now: world.now)
            case .sendStatus:
                try? source.sendStatusIfDue()
                action = core.performed(now: world.now)
            case .finished:
                try? source.sendStatus(replyRequested: false)
                return true
            }
        }
    }

    private mutating func observeDelivered() {
        let delivered = core.delivered
        if deliveredAt.last.map({ delivered > $0.lsn }) ?? true { deliveredAt.append((delivered, world.now)) }
        if delivered > world.checkpoint, aheadSince == nil { aheadSince = world.now }
    }

    private func checkWrite(_ lsn: LSN) {
        if let unit = world.everythingDelivered(upTo: lsn) {
            world.violate(.noLoss, "checkpoint \(lsn) written with an event of unit \(unit) (ending \(world.history.units[unit].endLSN)) not in Kafka")
        }
    }

    private func checkConfirm(_ lsn: LSN) {
        if let unit = world.everythingDelivered(upTo: lsn) {
            world.violate(.noLoss, "slot confirmed to \(lsn) with an event of unit \(unit) not in Kafka")
        }
        let window = world.history.replayWindow
        guard window > 0 else { return }
        // `ReplayWindow` lets positions delivered within 1 ms share an entry (the older time).
        let old = deliveredAt.contains { $0.lsn >= lsn && $0.at + window <= world.now + 1_000_000 }
        // Positions confirmed by an earlier session were old enough then.
        if !old && lsn > start {
            world.violate(.replayWindow, "slot confirmed to \(lsn), delivered less than \(window / 1_000_000) ms ago")
        }
    }

    private func checkPrompt() {
        guard let aheadSince, core.delivered > world.checkpoint else { return }
        if world.now - aheadSince > world.history.checkpointInterval + GeneratedHistory.step {
            world.violate(.promptFlush, "delivered \(core.delivered) not checkpointed \((world.now - aheadSince) / 1_000_000) ms after it moved")
        }
        if world.history.replayWindow == 0, world.slotConfirmed < world.checkpoint {
            world.violate(.promptFlush, "checkpoint \(world.checkpoint) not confirmed to the slot (at \(world.slotConfirmed))")
        }
    }
}

/// Plays one generated history to its end through as many sessions as its
/// crashes and failures take, and returns the invariants it violated.
func simulate(seed: UInt64) -> [Invariant: String] {
    let history = GeneratedHistory(seed: seed)
    let world = SimulatedWorld(history, seed: seed)
    var end = SimulatedSession.End.crashed
    while end != .finished {
        var session = SimulatedSession(world: world)
        end = session.run()
        if session.source.reentered { world.violate(.backpressure, "the source was called from inside its read callback") }
    }
    if !world.gaveUp {
        // Everything reached Kafka: as itself, or as its dead letter when refused for good.
        var seen: [Int: (original: Int, dead: Int)] = [:]
        for entry in world.log {
            var counts = seen[entry.id] ?? (0, 0)
            if entry.deadLetter { counts.dead += 1 } else { counts.original += 1 }
            seen[entry.id] = counts
        }
        for (id, fate) in history.fates.enumerated() {
            let counts = seen[id] ?? (0, 0)
            switch fate {
            case .permanentAtProduce, .permanentInReport:
                if counts.dead == 0 { world.violate(.deadLetters, "event \(id), refused for good, has no dead letter") }
                if counts.original > 0 { world.violate(.deadLetters, "event \(id) was refused yet published") }
            case .ok, .transientOnce:
                if counts.original == 0 { world.violate(.noLoss, "event \(id) never reached Kafka") }
                if counts.dead > 0 { world.violate(.deadLetters, "event \(id) was dead-lettered without a permanent failure") }
            }
        }
        // Duplicates only of what was not checkpointed when the session that repeated it started.
        var firstSeen: Set<Int> = []
        for entry in world.log {
            if !firstSeen.insert(entry.id * 2 + (entry.deadLetter ? 1 : 0)).inserted {
                let unit = history.units[history.unitOfEvent[entry.id]]
                if unit.endLSN <= entry.sessionStart && !SimulatedSession.republishedAtResumePoint(unit, start: entry.sessionStart) {
                    world.violate(.restart, "event \(entry.id) published again by a session started from \(entry.sessionStart), past its unit's end \(unit.endLSN)")
                }
            }
        }
        // An idle slot follows the walsender's position.
        if world.checkpoint < history.finalKeepalive {
            world.violate(.idleSlot, "the checkpoint stayed at \(world.checkpoint) after an idle keepalive at \(history.finalKeepalive)")
        }
        if history.replayWindow == 0, world.slotConfirmed < history.finalKeepalive {
            world.violate(.idleSlot, "the slot stayed at \(world.slotConfirmed) after an idle keepalive at \(history.finalKeepalive)")
        }
    }
    return world.violations
}
