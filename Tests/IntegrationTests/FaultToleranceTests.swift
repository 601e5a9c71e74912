import Foundation
import KafkaPublisher
import PostgresReplication
import Testing
import WalBridge

/// Issue 4, points 3, 4, 6 and 7: a Kafka outage, a lost Postgres connection,
/// an idle slot in a busy cluster, and a slot held by another bridge.
@Suite("Fault tolerance", .serialized)
struct FaultToleranceTests {
    /// The walsender serving the test's slot, or nil.
    func walsenderPID(_ setup: BridgeTestSetup) throws -> Int32? {
        try setup.database.admin.slot(named: setup.database.slot)?.activePID
    }

    @Test("all brokers down for 30 s: every event arrives in order, nothing confirmed early, the stream is never cut")
    func kafkaOutage() throws {
        let setup = try BridgeTestSetup()
        // A short wal_sender_timeout proves that status updates keep flowing while Kafka is away.
        try setup.database.sql("ALTER DATABASE \(setup.database.name) SET wal_sender_timeout = '5s'")
        let process = try WalBridgeProcess(["run", "--config", try setup.writeConfiguration()])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        let id = try setup.insertUser("ordered")
        try collector.collect(count: 1)
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())
        let walsender = try walsenderPID(setup)

        try setup.cluster.setAllBrokersDown()
        let outageStart = try setup.database.currentInsertLSN()
        let clock = ContinuousClock()
        let downAt = clock.now
        for version in 1...20 {
            try setup.database.sql("UPDATE users SET last_name = 'v\(version)' WHERE id = \(id)")
        }
        try setup.insertUsers(prefix: "outage", count: 50)
        while clock.now - downAt < .seconds(30) {
            #expect(process.isRunning, "the bridge never exits during an outage")
            let confirmed = try setup.database.confirmedFlush() ?? .zero
            #expect(confirmed <= outageStart, "the slot must not pass an unacknowledged event (\(confirmed) > \(outageStart))")
            let checkpoint = try CheckpointStore(path: setup.checkpointPath).load()?.lsn ?? .zero
            #expect(checkpoint <= outageStart, "the checkpoint must not pass an unacknowledged event")
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(try walsenderPID(setup) == walsender, "the replication connection survived: status updates kept flowing")
        try setup.cluster.setAllBrokersUp()
        let recovered = clock.now
        try waitUntil("all events after the outage", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(200))
            return collector.events.count >= 1 + 20 + 50
        }
        print("Kafka outage 30 s: recovered in \(clock.now - recovered) after the brokers came back")
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let events = try collector.drain(for: .milliseconds(300))
        let versions = events.filter { $0.key == "\(id)" && $0.eventType == "UserUpdated" }.compactMap { $0.data?["lastName"] as? String }
        #expect(versions == (1...20).map { "v\($0)" }, "one key's events arrive in commit order")
        #expect(eventsByUsername(events).filter { $0.key.hasPrefix("outage") }.count == 50)
        #expect(!process.stderr.contains("reconnecting"), "no reconnect was needed")
    }

    @Test("a fatal idempotent-producer error rebuilds the producer and resumes from the checkpoint")
    func fatalProducerError() throws {
        let setup = try BridgeTestSetup()
        let bridge = try setup.startBridge()
        let collector = try setup.collector()
        try setup.insertUser("before")
        try collector.collect(count: 1)
        // The broker answers the next Produce requests with an error the idempotent producer cannot recover from.
        setup.cluster.pushRequestErrors(apiKey: .produce, errors: [.outOfOrderSequenceNumber, .outOfOrderSequenceNumber])
        try setup.insertUsers(prefix: "fatal", count: 20)
        try waitUntil("all rows after the producer was rebuilt", timeout: .seconds(60)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= 21
        }
        #expect(try bridge.stopAndWait() == nil)
        let byUser = eventsByUsername(try collector.drain(for: .milliseconds(300)))
        #expect((1...20).allSatisfy { byUser["fatal\($0)"] != nil })
        for (user, events) in byUser { #expect(Set(events.compactMap(\.eventID)).count == 1, "\(user)") }
    }

    @Test("a lost Postgres connection: reconnect with backoff, resume from the checkpoint, nothing lost")
    func connectionLoss() throws {
        let setup = try BridgeTestSetup()
        let process = try WalBridgeProcess(["run", "--config", try setup.writeConfiguration()])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUsers(prefix: "before", count: 10)
        try collector.collect(count: 10)
        let first = try #require(try walsenderPID(setup))
        try setup.database.sql("SELECT pg_terminate_backend(\(first))")
        try setup.insertUsers(prefix: "during", count: 10)
        try process.waitForLog("reconnecting")
        try waitUntil("a new walsender", timeout: .seconds(30)) {
            guard let pid = try walsenderPID(setup) else { return false }
            return pid != first
        }
        try setup.insertUsers(prefix: "after", count: 10)
        try waitUntil("every row", timeout: .seconds(30)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= 30
        }
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let byUser = eventsByUsername(try collector.drain(for: .milliseconds(300)))
        for prefix in ["before", "during", "after"] {
            #expect((1...10).allSatisfy { byUser["\(prefix)\($0)"] != nil }, "\(prefix) rows")
        }
        #expect(process.stderr.contains("attempt=1"), "each attempt is logged")
        #expect(!process.stderr.contains(TestDatabase.password))
    }

    @Test("a Postgres restart: reconnect with backoff, resume from the checkpoint, nothing lost or repeated")
    func postgresRestart() throws {
        let setup = try BridgeTestSetup()
        let process = try WalBridgeProcess(["run", "--config", try setup.writeConfiguration()])
        try process.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUsers(prefix: "before", count: 5)
        try collector.collect(count: 5)
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())

        // A fast restart of the whole cluster, as an operator or a crash-restart would do.
        let pgCtl = [TestServer.binaries + "/pg_ctl", "-D", TestDatabase.socketDirectory + "/data", "-m", "fast", "-w", "-t", "60", "restart"]
        let command = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + pgCtl : pgCtl
        let restart = try ChildProcess(
            executable: command[0], arguments: Array(command.dropFirst()), environment: ProcessInfo.processInfo.environment,
            stdout: "/dev/null", stderr: "/dev/null")
        #expect(try restart.wait(timeout: .seconds(90)) == 0)

        // The test's own admin session died with the server: use a new one.
        let admin = try PostgresConnection(url: TestDatabase.adminConninfo(database: setup.database.name), replication: false)
        try process.waitForLog("reconnecting")
        try waitUntil("the slot streamed again", timeout: .seconds(60)) {
            try admin.slot(named: setup.database.slot)?.isActive == true
        }
        try admin.query("""
            INSERT INTO users (username, email, password_hash)
            SELECT 'after' || g, 'after' || g || '@example.com', 'h' FROM generate_series(1, 5) g
            """)
        try waitUntil("every row", timeout: .seconds(30)) {
            _ = try collector.drain(for: .milliseconds(200))
            return eventsByUsername(collector.events).count >= 10
        }
        #expect(process.isRunning, "a restart is a runtime failure to wait out, not a reason to exit")
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let events = try collector.drain(for: .milliseconds(300))
        let byUser = eventsByUsername(events)
        #expect((1...5).allSatisfy { byUser["before\($0)"] != nil && byUser["after\($0)"] != nil })
        #expect(events.count == 10, "nothing checkpointed was published again")
    }

    @Test("an idle slot in a busy cluster: confirmed_flush_lsn follows the server, so WAL is not pinned")
    func idleSlotDoesNotPinWAL() throws {
        let setup = try BridgeTestSetup()
        try setup.database.sql("CREATE TABLE noise (id bigserial PRIMARY KEY, payload text)")
        let bridge = try setup.startBridge()
        let otherDatabase = setup.database.name + "_other"
        try PostgresConnection(url: TestDatabase.adminConninfo(database: "postgres"), replication: false)
            .query("CREATE DATABASE \(otherDatabase)")
        defer {
            _ = try? PostgresConnection(url: TestDatabase.adminConninfo(database: "postgres"), replication: false)
                .query("DROP DATABASE IF EXISTS \(otherDatabase) WITH (FORCE)")
        }
        let other = try PostgresConnection(url: TestDatabase.adminConninfo(database: otherDatabase), replication: false)
        try other.query("CREATE TABLE busy (id bigserial PRIMARY KEY, payload text)")
        for round in 1...3 {
            try setup.database.sql("INSERT INTO noise (payload) SELECT repeat('x', 200) FROM generate_series(1, 20000)")
            try other.query("INSERT INTO busy (payload) SELECT repeat('y', 200) FROM generate_series(1, 20000)")
            let end = try setup.database.currentInsertLSN()
            try setup.database.waitForConfirmedFlush(atLeast: end, timeout: .seconds(20))
            let retained = try setup.database.sql(
                "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)'")
            print("idle slot, round \(round): confirmed flush reached \(end); lag now \(retained.rows[0][0] ?? "?") bytes")
        }
        #expect(try bridge.stopAndWait() == nil)
    }

    @Test("a slot held by another bridge: a clear error naming the PID; --wait-for-slot takes over when it frees")
    func slotInUse() throws {
        let setup = try BridgeTestSetup()
        let first = try setup.startBridge()
        let holder = try #require(try walsenderPID(setup))
        let config = try setup.writeConfiguration()

        let refused = try WalBridgeProcess.run(["run", "--config", config])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("in use by another connection (PID \(holder))"), "\(refused.stderr)")

        let standby = try WalBridgeProcess(["run", "--config", config, "--wait-for-slot"])
        try standby.waitForLog("standing by")
        #expect(try first.stopAndWait() == nil)
        try standby.waitForLog("taking over")
        try standby.waitForLog("streaming")
        let collector = try setup.collector()
        try setup.insertUser("after_failover")
        let events = try collector.collect(count: 1)
        #expect(events.first?.username == "after_failover")
        standby.signal(SIGTERM)
        #expect(try standby.waitForExit() == 0)
    }
}
