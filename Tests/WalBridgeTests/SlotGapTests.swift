import Foundation
import PostgresReplication
import Testing
@testable import WalBridge

/// Issue 17, part 1: the rule that tells WalBridge's own slot from a lost or
/// recreated one, the gap it records, and how the gap heals.
@Suite("Lost slots: continuity rule, recorded gap, readiness")
struct SlotGapTests {
    let directory = NSTemporaryDirectory() + "walbridge-gap-\(UInt64.random(in: 0..<UInt64.max))"

    @Test("no checkpoint: any slot will do; a missing slot after deliveries is never created silently")
    func continuityRule() {
        let checkpoint = LSN(0x1929_8F0)
        #expect(SlotContinuity.check(checkpointLSN: nil, slotFollowsCheckpoint: true, slotLSN: nil, createdNow: false) == .firstStart)
        #expect(SlotContinuity.check(checkpointLSN: nil, slotFollowsCheckpoint: true, slotLSN: LSN(5), createdNow: true) == .firstStart)
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: true, slotLSN: nil, createdNow: false)
            == .missing(checkpointLSN: checkpoint))
        // WalBridge's own slot is at or behind its checkpoint (a replay window keeps it further behind).
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: true, slotLSN: checkpoint, createdNow: false) == .continues)
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: true, slotLSN: LSN(0x100), createdNow: false) == .continues)
        // Ahead of a checkpoint it never passes: another slot.
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: true, slotLSN: LSN(0x192E_150), createdNow: false)
            == .gap(checkpointLSN: checkpoint, slotLSN: LSN(0x192E_150)))
        // A checkpoint of an earlier version: its slot may be ahead after a crash, as before.
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: false, slotLSN: LSN(0x192E_150), createdNow: false) == .continues)
        // A slot created by this start after deliveries is a gap, whatever the file's version.
        #expect(SlotContinuity.check(checkpointLSN: checkpoint, slotFollowsCheckpoint: false, slotLSN: LSN(0x192E_150), createdNow: true)
            == .gap(checkpointLSN: checkpoint, slotLSN: LSN(0x192E_150)))
    }

    @Test("the refusal names the slot, both positions and the remedies")
    func refusalText() throws {
        let missing = try #require(SlotContinuity.refusal(.missing(checkpointLSN: LSN(0x1929_8F0)), slot: "walbridge", checkpointPath: "/s/c.json"))
        for part in ["'walbridge'", "does not exist", "0/19298F0", "/s/c.json", "--recreate-slot", "postgres.url"] {
            #expect(missing.contains(part), "\(part) in: \(missing)")
        }
        let gap = try #require(SlotContinuity.refusal(.gap(checkpointLSN: LSN(0x1929_8F0), slotLSN: LSN(0x192E_150)),
                                                      slot: "walbridge", checkpointPath: "/s/c.json"))
        for part in ["'walbridge'", "0/192E150", "0/19298F0", "ahead of checkpoint", "--recreate-slot"] {
            #expect(gap.contains(part), "\(part) in: \(gap)")
        }
        #expect(SlotContinuity.refusal(.continues, slot: "s", checkpointPath: "p") == nil)
        #expect(SlotContinuity.refusal(.firstStart, slot: "s", checkpointPath: "p") == nil)
    }

    @Test("the checkpoint keeps the gap and the slot policy; files of earlier versions load without them")
    func checkpointRoundTrip() throws {
        let store = CheckpointStore(path: directory + "/checkpoint.json")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let job = SnapshotState.Job(id: "job-1", origin: .recreatedSlot, filter: nil,
                                    tables: [.init(table: try .parse("public.users"))], startedAt: Date(timeIntervalSince1970: 1_800_000_000))
        let gap = SlotGap(checkpointLSN: LSN(0x1929_8F0), slotLSN: LSN(0x192E_150),
                          detectedAt: Date(timeIntervalSince1970: 1_800_000_000), backfillJobID: "job-1")
        let checkpoint = Checkpoint(systemID: "73", slot: "walbridge", lsn: LSN(0x192E_150),
                                    updatedAt: Date(timeIntervalSince1970: 1_800_000_000),
                                    snapshot: SnapshotState(job: job, gap: gap))
        try store.save(checkpoint)
        let loaded = try #require(try store.load())
        #expect(loaded == checkpoint)
        #expect(loaded.slotFollowsCheckpoint)
        #expect(loaded.gap == gap)
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        #expect(text.contains(#""slotFollowsCheckpoint": true"#))
        #expect(text.contains(#""gap": {"backfillJob":"job-1","checkpointLsn":"0/19298F0","detectedAt":"2027-01-15T08:00:00Z","slotLsn":"0/192E150"}"#), "\(text)")

        // Only a gap (nothing backfillable): no snapshot object, the gap still there.
        let unhealable = Checkpoint(systemID: "73", slot: "walbridge", lsn: LSN(9), updatedAt: Date(timeIntervalSince1970: 1_800_000_000),
                                    snapshot: SnapshotState(gap: SlotGap(checkpointLSN: LSN(1), slotLSN: LSN(9),
                                                                         detectedAt: Date(timeIntervalSince1970: 1_800_000_000), backfillJobID: nil)))
        try store.save(unhealable)
        #expect(try store.load() == unhealable)
        #expect(try !String(contentsOfFile: store.path, encoding: .utf8).contains("\"snapshot\""))

        try #"{"version": 1, "systemId": "73", "slot": "walbridge", "lsn": "0/5", "updatedAt": "2026-11-23T05:12:00Z"}"#
            .write(toFile: store.path, atomically: false, encoding: .utf8)
        let legacy = try #require(try store.load())
        #expect(!legacy.slotFollowsCheckpoint, "a file of an earlier version makes no promise about its slot")
        #expect(legacy.gap == nil)

        try #"{"version": 1, "systemId": "73", "slot": "walbridge", "lsn": "0/5", "gap": {"checkpointLsn": "x"}}"#
            .write(toFile: store.path, atomically: false, encoding: .utf8)
        #expect(throws: CheckpointError.self) { try store.load() }
    }

    @Test("the gap heals exactly when the job started for it finishes")
    func healing() throws {
        let gap = SlotGap(checkpointLSN: LSN(1), slotLSN: LSN(2), backfillJobID: "job-1")
        var other = SnapshotState(job: .init(id: "job-0", origin: .command, filter: nil, tables: [.init(table: try .parse("public.users"))]), gap: gap)
        other.finishJob()
        #expect(other.gap == gap, "another job's end does not heal it")
        var state = SnapshotState(job: .init(id: "job-1", origin: .recreatedSlot, filter: nil, tables: [.init(table: try .parse("public.users"))]), gap: gap)
        #expect(!state.isEmpty)
        state.finishJob()
        #expect(state.gap == nil)
        #expect(state.lastFinishedJobID == "job-1")
        #expect(!state.completedInitial.contains(try .parse("public.users")), "a gap backfill is not an initial snapshot")
    }

    @Test("/readyz fails while a recreated slot's gap waits for its backfill")
    func readiness() {
        let metrics = BridgeMetrics()
        let health = BridgeHealth(metrics: metrics, monitor: nil, slot: "s", maxLag: .seconds(60), pollInterval: .seconds(1))
        metrics.connected(true, walsenderPID: 42)
        #expect(health.readiness().isReady)
        metrics.slotGap(SlotGap(checkpointLSN: LSN(0x10), slotLSN: LSN(0x20), backfillJobID: "job-1"))
        let reasons = health.readiness().reasons
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("replication slot was recreated") == true)
        #expect(reasons.first?.contains("0/10") == true && reasons.first?.contains("0/20") == true)
        // Nothing can heal a gap without a backfillable mapping: it is reported, not a readiness failure.
        metrics.slotGap(SlotGap(checkpointLSN: LSN(0x10), slotLSN: LSN(0x20), backfillJobID: nil))
        #expect(health.readiness().isReady)
        metrics.slotGap(nil)
        #expect(health.readiness().isReady)
    }

    @Test("status shows a recorded gap and a found one, in text and JSON")
    func statusOutput() {
        var status = SlotStatus(
            slot: "walbridge", database: "auth", active: false, activePID: nil, confirmedFlushLSN: LSN(0x20), checkpointLSN: LSN(0x20),
            earliestReplayableLSN: LSN(0x20), retainedWALBytes: 0, lagBytes: 0, checkpointProblem: nil, checkpointPath: "c.json")
        #expect(!status.json.contains("\"gap\""))
        status.gap = SlotGap(checkpointLSN: LSN(0x10), slotLSN: LSN(0x20), detectedAt: Date(timeIntervalSince1970: 1_800_000_000), backfillJobID: "job-1")
        #expect(status.json.contains(#""gap": {"checkpointLsn": "0/10", "slotLsn": "0/20", "bytes": 16, "recorded": true, "detectedAt": "2027-01-15T08:00:00Z", "backfillJob": "job-1"}"#))
        #expect(status.table.contains("slot gap"))
        #expect(status.table.contains("/readyz fails"))
        status.gapUnrecorded = true
        #expect(status.json.contains(#""recorded": false, "detectedAt": null"#))
        #expect(status.table.contains("refuses to start"))
    }
}
