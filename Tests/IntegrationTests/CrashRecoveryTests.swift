import Foundation
import PostgresReplication
import Testing
import WalBridge

/// Issue 4, points 1 and 2: a crash anywhere loses nothing and duplicates only
/// what was not checkpointed, with the same event ids; SIGTERM and SIGINT stop
/// cleanly; a second signal exits at once without a wrong checkpoint.
@Suite("Crash recovery and shutdown signals", .serialized)
struct CrashRecoveryTests {
    /// Checks that every expected user arrived and that every duplicate is of a
    /// transaction not checkpointed at the crash, with one event id per change.
    func verify(_ events: [ReceivedEvent], prefix: String, count: Int, checkpointAtCrash: LSN?) -> Int {
        let byUser = eventsByUsername(events)
        let missing = (1...count).filter { byUser["\(prefix)\($0)"] == nil }
        #expect(missing.isEmpty, "lost \(missing.count) committed rows, e.g. \(missing.prefix(5))")
        var duplicates = 0
        for (user, userEvents) in byUser where userEvents.count > 1 {
            duplicates += userEvents.count - 1
            #expect(Set(userEvents.compactMap(\.eventID)).count == 1, "\(user): a duplicate must carry the same event id")
            if let checkpointAtCrash, let commit = userEvents[0].commitLSN {
                #expect(commit >= checkpointAtCrash, "\(user) was checkpointed (commit \(commit) < \(checkpointAtCrash)) yet published again")
            }
        }
        return duplicates
    }

    @Test("SIGKILL during many small transactions: nothing lost, duplicates only after the checkpoint, same ids")
    func killDuringSmallTransactions() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let first = try WalBridgeProcess(["run", "--config", config])
        try first.waitForLog("streaming")
        let collector = try setup.collector()
        let count = 3000
        let writer = BackgroundSQL(database: setup.database.name, """
            DO $$ BEGIN FOR g IN 1..\(count) LOOP
              INSERT INTO users (username, email, password_hash) VALUES ('small' || g, 'small' || g || '@example.com', 'h');
              COMMIT;
            END LOOP; END $$
            """)
        try collector.collect(count: 400)
        first.signal(SIGKILL)
        #expect(try first.waitForExit() == 128 + SIGKILL)
        let checkpoint = try CheckpointStore(path: setup.checkpointPath).load()
        try writer.wait()

        let clock = ContinuousClock()
        let restarted = clock.now
        let second = try WalBridgeProcess(["run", "--config", config])
        try waitUntil("all \(count) users after the restart", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= count
        }
        let recovery = clock.now - restarted
        second.signal(SIGTERM)
        #expect(try second.waitForExit() == 0)
        let duplicates = verify(try collector.collectAll(), prefix: "small", count: count, checkpointAtCrash: checkpoint?.lsn)
        print("SIGKILL/small transactions: \(count) rows, 0 lost, \(duplicates) duplicates, caught up \(recovery) after restart")
    }

    @Test("SIGKILL during one large transaction: the whole transaction is published again with the same ids")
    func killDuringLargeTransaction() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration()
        let first = try WalBridgeProcess(["run", "--config", config])
        try first.waitForLog("streaming")
        let collector = try setup.collector()
        let count = 30_000
        try setup.database.sql("""
            INSERT INTO users (username, email, password_hash)
            SELECT 'large' || g, 'large' || g || '@example.com', 'h' FROM generate_series(1, \(count)) g
            """)
        try collector.collect(count: 3000)
        first.signal(SIGKILL)
        #expect(try first.waitForExit() == 128 + SIGKILL)
        let checkpoint = try CheckpointStore(path: setup.checkpointPath).load()

        let second = try WalBridgeProcess(["run", "--config", config])
        try waitUntil("all \(count) users after the restart", timeout: .seconds(90)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= count
        }
        let end = try setup.database.currentInsertLSN()
        try setup.database.waitForConfirmedFlush(atLeast: end)
        second.signal(SIGTERM)
        #expect(try second.waitForExit() == 0)
        let duplicates = verify(try collector.collectAll(), prefix: "large", count: count, checkpointAtCrash: checkpoint?.lsn)
        print("SIGKILL/large transaction: \(count) rows, 0 lost, \(duplicates) duplicates")
    }

    @Test("SIGTERM and SIGINT: drain, checkpoint, report the flush position, exit 0", arguments: [SIGTERM, SIGINT])
    func gracefulStop(signal: Int32) throws {
        let setup = try BridgeTestSetup()
        let process = try WalBridgeProcess(["run", "--config", try setup.writeConfiguration()])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUsers(prefix: "graceful", count: 200)
        try collector.collect(count: 200)
        let end = try setup.database.currentInsertLSN()
        process.signal(signal)
        #expect(try process.waitForExit() == 0)
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        let confirmed = try #require(try setup.database.confirmedFlush())
        #expect(confirmed == checkpoint.lsn, "the final flush position was reported to Postgres")
        #expect(checkpoint.lsn <= end)
        #expect(process.stderr.contains("stopped"))
    }

    @Test("a second signal exits at once (130) without a checkpoint past what Kafka acknowledged")
    func secondSignal() throws {
        let setup = try BridgeTestSetup()
        let config = try setup.writeConfiguration(setup.yaml().replacingOccurrences(of: "shutdown_timeout: 10s", with: "shutdown_timeout: 60s"))
        let process = try WalBridgeProcess(["run", "--config", config])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUser("acknowledged")
        try collector.collect(count: 1)
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())
        let acknowledged = try #require(try setup.database.confirmedFlush())

        try setup.cluster.setAllBrokersDown()
        try setup.insertUsers(prefix: "unacknowledged", count: 5)
        try waitUntil("the bridge to read the new rows", timeout: .seconds(10)) {
            (try? setup.database.sql("SELECT sent_lsn >= pg_current_wal_insert_lsn() FROM pg_stat_replication WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)')").rows.first?.first) == "t"
        }
        process.signal(SIGTERM)
        try process.waitForLog("waiting for outstanding deliveries")
        let clock = ContinuousClock()
        let second = clock.now
        process.signal(SIGTERM)
        #expect(try process.waitForExit(timeout: .seconds(5)) == 130)
        #expect(clock.now - second < .seconds(3), "the second signal exits at once")
        let checkpoint = try CheckpointStore(path: setup.checkpointPath).load()
        #expect((checkpoint?.lsn ?? .zero) <= acknowledged, "no checkpoint past the last acknowledged transaction")
        let slotPosition = try setup.database.confirmedFlush() ?? .zero
        #expect(slotPosition <= acknowledged)

        try setup.cluster.setAllBrokersUp()
        let again = try WalBridgeProcess(["run", "--config", config])
        try waitUntil("the unacknowledged rows after the restart", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(200))
            return (1...5).allSatisfy { eventsByUsername(collector.events)["unacknowledged\($0)"] != nil }
        }
        again.signal(SIGTERM)
        #expect(try again.waitForExit() == 0)
    }
}
