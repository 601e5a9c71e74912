import PostgresReplication
import Testing
@testable import WalBridge

/// The delivery invariants (docs/delivery.md "The promises") as properties of `DeliveryCore`, each over
/// thousands of generated histories (random report orders, failures, dead
/// letters, full queues, crashes and restarts at any point, replay windows).
/// A failure names the seed: `simulate(seed:)` replays that history.
@Suite("Delivery core properties")
struct DeliveryCoreProperties {
    static let histories: UInt64 = 3_000

    /// Runs `histories` seeds and reports the first that violates `invariant`.
    private func check(_ invariant: Invariant, base: UInt64) {
        for seed in base..<(base + Self.histories) {
            let violations = simulate(seed: seed)
            if let message = violations[invariant] {
                Issue.record("invariant \(invariant.rawValue) violated by the history of seed \(seed): \(message)")
                return
            }
        }
    }

    @Test("1. order: records are handed to Kafka in stream order, a full queue included")
    func order() { check(.order, base: 10_000) }

    @Test("2. no loss: the checkpoint and the slot pass only units Kafka has in full")
    func noLoss() { check(.noLoss, base: 20_000) }

    @Test("2. a new position is checkpointed within the interval and confirmed at once")
    func promptFlush() { check(.promptFlush, base: 30_000) }

    @Test("3. an idle slot follows the walsender's keepalives")
    func idleSlot() { check(.idleSlot, base: 40_000) }

    @Test("4. after a restart only what was not checkpointed is published again")
    func restart() { check(.restart, base: 50_000) }

    @Test("5. in-flight records stay bounded; while paused, status updates go on and the source is never re-entered")
    func backpressure() { check(.backpressure, base: 60_000) }

    @Test("6. a record refused for good is dead-lettered and the stream goes on; nothing is dropped")
    func deadLetters() { check(.deadLetters, base: 70_000) }

    @Test("replay window: the slot is confirmed only to positions delivered a window ago")
    func replayWindow() { check(.replayWindow, base: 80_000) }
}

/// Single behaviours of `DeliveryCore`, written out.
@Suite("Delivery core")
struct DeliveryCoreTests {
    let ms: UInt64 = 1_000_000

    private func core(start: LSN = LSN(100), window: Duration = .zero, deadLetters: Bool = true, maxInflight: Int = 10) -> DeliveryCore {
        var settings = DeliveryCore.Settings(start: start, skipBelow: start, checkpointed: start)
        settings.replayWindow = window
        settings.deadLetters = deadLetters
        settings.maxInflightEvents = maxInflight
        return DeliveryCore(settings, now: 0)
    }

    /// Performs a round of time-driven actions the simple way; returns them.
    private func round(_ core: inout DeliveryCore, now: UInt64) -> [DeliveryCore.Action] {
        var actions: [DeliveryCore.Action] = []
        var action = core.tick(now: now)
        while action != .none {
            actions.append(action)
            if case .writeCheckpoint(let lsn) = action {
                action = core.checkpointWritten(lsn, now: now)
            } else if case .finished = action {
                break
            } else {
                action = core.performed(now: now)
            }
        }
        return actions
    }

    @Test("a token carries its unit and label; a label too large is carried as none")
    func token() {
        let token = DeliveryToken(sequence: 12_345, label: 7)
        #expect(token.sequence == 12_345)
        #expect(token.label == 7)
        #expect(DeliveryToken(rawValue: token.rawValue) == token)
        #expect(DeliveryToken(sequence: 1, label: 1 << 30).label == nil)
        #expect(DeliveryToken(sequence: 1, label: DeliveryToken.unlabelled).label == nil)
    }

    @Test("a transaction whose commit LSN is below the resume point is skipped; one at it is published")
    func skip() {
        var core = core(start: LSN(500))
        let first = core.begin(TransactionInfo(commitLSN: LSN(480), commitTimeMicros: 0, xid: 1))
        #expect(first == false)
        #expect(core.token(label: 0) == nil)
        guard case .skipped(let after) = core.commit(endLSN: LSN(500)) else { Issue.record("not skipped"); return }
        #expect(!after)
        let published = core.begin(TransactionInfo(commitLSN: LSN(500), commitTimeMicros: 0, xid: 2))
        #expect(published)
        #expect(core.token(label: 0) != nil)
    }

    @Test("the watermark waits for the last acknowledgement; then checkpoint, then confirm")
    func checkpointThenConfirm() {
        var core = core()
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let token = core.token(label: 3)!
        core.enqueued(token, bytes: 40, now: 0)
        core.enqueued(token, bytes: 60, now: 0)
        _ = core.commit(endLSN: LSN(160))
        #expect(core.inflightBytes == 100)
        let early = core.acknowledged(token)
        #expect(early == nil)
        #expect(round(&core, now: 200 * ms) == [.confirm(LSN(100))], "the starting checkpoint only")
        let tally = core.acknowledged(token)
        #expect(tally?.count == 2 && tally?.label == 3 && tally?.bytes == 100)
        #expect(core.inflightBytes == 0)
        #expect(round(&core, now: 250 * ms) == [.writeCheckpoint(LSN(160)), .confirm(LSN(160))])
        _ = core.keepalive(walEnd: LSN(170))
        #expect(round(&core, now: 300 * ms) == [], "50 ms since the last write")
        #expect(round(&core, now: 350 * ms) == [.writeCheckpoint(LSN(170)), .confirm(LSN(170))])
    }

    @Test("a dead-lettered record leaves its label's count; a transient failure stops")
    func failures() {
        var core = core()
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let first = core.token(label: 1)!
        let second = core.token(label: 2)!
        core.enqueued(first, bytes: 1, now: 0)
        core.enqueued(second, bytes: 1, now: 0)
        _ = core.commit(endLSN: LSN(160))
        let transient = core.failed(second, permanent: false, isDeadLetter: false)
        #expect(transient == .stop)
        let deadLetterRefused = core.failed(second, permanent: true, isDeadLetter: true)
        #expect(deadLetterRefused == .stop, "a dead letter refused is not dead-lettered again")
        let permanent = core.failed(second, permanent: true, isDeadLetter: false)
        #expect(permanent == .deadLetter)
        #expect(core.delivered == LSN(100), "a failure never moves the watermark")
        _ = core.acknowledged(first)
        let tally = core.acknowledged(second)  // the dead letter's report, under the same token
        #expect(tally.map { $0.counts.map(\.label) } == [1])
        #expect(core.delivered == LSN(160))
    }

    @Test("without a dead-letter topic a permanent failure stops")
    func noDeadLetterTopic() {
        var core = core(deadLetters: false)
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let token = core.token(label: 0)!
        core.enqueued(token, bytes: 1, now: 0)
        let action = core.failed(token, permanent: true, isDeadLetter: false)
        #expect(action == .stop)
    }

    @Test("a full queue or the in-flight bound pauses reading; paused, every round asks for a status update")
    func pause() {
        var core = core(maxInflight: 2)
        #expect(core.readDecision == .read(waitMilliseconds: 100))
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let token = core.token(label: 0)!
        core.enqueued(token, bytes: 1, now: 0)
        #expect(core.readDecision == .read(waitMilliseconds: 2))
        core.sinkRefused()
        #expect(core.readDecision == .pause)
        #expect(round(&core, now: 1).contains(.sendStatus))
        core.sinkAccepting()
        core.enqueued(token, bytes: 1, now: 0)
        #expect(core.readDecision == .pause, "two outstanding, bound two")
        _ = core.acknowledged(token)
        #expect(core.readDecision == .read(waitMilliseconds: 2))
    }

    @Test("a keepalive moves an idle watermark, never one with a unit open")
    func keepalive() {
        var core = core()
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let inside = core.keepalive(walEnd: LSN(140))
        #expect(inside == false)
        _ = core.commit(endLSN: LSN(160))
        #expect(core.delivered == LSN(160))
        let moved = core.keepalive(walEnd: LSN(170))
        #expect(moved)
        #expect(core.delivered == LSN(170))
        #expect(core.received == LSN(170))
    }

    @Test("with a replay window the slot is confirmed only once the window has passed, never past the checkpoint")
    func replayWindow() {
        var core = core(window: .seconds(1))
        _ = core.keepalive(walEnd: LSN(200))
        #expect(round(&core, now: 200 * ms) == [.writeCheckpoint(LSN(200))])
        #expect(round(&core, now: 1_100 * ms) == [])
        #expect(round(&core, now: 1_200 * ms) == [.confirm(LSN(200))])
    }

    @Test("a drain ends when nothing is outstanding, or at its deadline, after a final checkpoint")
    func drain() {
        var core = core()
        _ = core.begin(TransactionInfo(commitLSN: LSN(150), commitTimeMicros: 0, xid: 1))
        let token = core.token(label: 0)!
        core.enqueued(token, bytes: 1, now: 0)
        _ = core.commit(endLSN: LSN(160))
        _ = core.beginMessage(lsn: LSN(170))
        let message = core.token(label: 0)!
        core.enqueued(message, bytes: 1, now: 0)
        _ = core.commit(endLSN: LSN(170))
        _ = core.acknowledged(token)
        core.stop(now: 10 * ms, timeout: .seconds(1))
        #expect(core.readDecision == .pause)
        #expect(round(&core, now: 20 * ms) == [.confirm(LSN(100)), .sendStatus])
        #expect(round(&core, now: 1_010 * ms) == [.writeCheckpoint(LSN(160)), .confirm(LSN(160)), .sendStatus, .finished(LSN(160))],
                "the deadline passed with the message outstanding")
    }
}
