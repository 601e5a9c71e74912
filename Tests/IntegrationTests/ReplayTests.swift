import Foundation
import PostgresReplication
import Testing
import WalBridge

/// Issue 4, point 8: `--from-lsn` republishes exactly the transactions whose
/// end LSN is above it, with the same event ids; an LSN the slot cannot serve is
/// refused; `postgres.replay_window` keeps WAL replayable.
@Suite("Replay from a stored LSN", .serialized)
struct ReplayTests {
    @Test("replay_window holds the slot back; --from-lsn republishes exactly what ended after it, same ids")
    func replayInsideWindow() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration(setup.yaml(postgresExtra: "replay_window: 1h"))
        let collector = try setup.collector()

        var process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let slotStart = try #require(try setup.database.confirmedFlush())
        for name in ["r1", "r2", "r3"] { try setup.insertUser(name) }
        // Different keys live on different partitions: order them by commit LSN.
        let original = try collector.collect(count: 3).sorted { ($0.commitLSN ?? .zero) < ($1.commitLSN ?? .zero) }
        try #require(original.map(\.username) == ["r1", "r2", "r3"])
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        #expect(try setup.database.confirmedFlush() == slotStart, "inside the window the slot keeps its WAL")
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        #expect(checkpoint.lsn > slotStart, "the checkpoint moves at once")

        // A normal restart publishes nothing again.
        process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        try setup.insertUser("r4")
        #expect(try collector.collect(count: 4).count == 4)
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        #expect(try collector.collectAll().count == 4, "no duplicates on a normal restart")
        let r4 = try #require(collector.events.first { $0.username == "r4" })

        // Replay from r2's commit LSN: r2, r3 and r4 end after it, r1 does not.
        let from = try #require(original[1].commitLSN)
        process = try WalBridgeProcess(["run", "--config", config, "--from-lsn", "\(from)"])
        try process.waitForLog("streaming")
        let replayed = Array(try collector.collect(count: 7).dropFirst(4)).sorted { ($0.commitLSN ?? .zero) < ($1.commitLSN ?? .zero) }
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        #expect(try collector.collectAll().count == 7, "exactly three transactions are republished")
        #expect(replayed.map(\.username) == ["r2", "r3", "r4"])
        #expect(replayed.map(\.eventID) == [original[1].eventID, original[2].eventID, r4.eventID], "replayed events carry the same ids")
    }

    @Test("--from-lsn older than the slot can replay is refused, naming the earliest replayable LSN")
    func replayTooOld() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUser("gone")
        try collector.collect(count: 1)
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let earliest = try #require(try setup.database.confirmedFlush())

        let refused = try WalBridgeProcess.run(["run", "--config", config, "--from-lsn", "0/1"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("the earliest replayable LSN is \(earliest)"), "\(refused.stderr)")
        #expect(try collector.collectAll().count == 1, "nothing was republished")
    }
}
