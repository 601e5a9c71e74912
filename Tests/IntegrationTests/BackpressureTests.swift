import Foundation
import PostgresReplication
import Testing
import WalBridge

/// Issue 4, point 5: with the broker slowed and a 1,000,000-row transaction,
/// memory stays bounded and status updates keep flowing.
@Suite("Backpressure", .serialized)
struct BackpressureTests {
    /// The memory bound README.md states for the default limits (100,000
    /// in-flight events, 64 MiB queued in librdkafka), with room for a debug build.
    static let residentBound = 300 * 1024 * 1024

    @Test("a 1,000,000-row transaction through a slow broker: bounded memory, the stream is never cut")
    func millionRowTransaction() throws {
        let setup = try BridgeTestSetup(partitions: 6)
        try setup.database.sql("ALTER DATABASE \(setup.database.name) SET wal_sender_timeout = '5s'")
        try setup.cluster.setRoundTripTime(broker: 1, milliseconds: 20)
        let process = try WalBridgeProcess(["run", "--config", try setup.writeConfiguration()], executable: WalBridgeProcess.fastestExecutable)
        try process.waitForLog("streaming")
        let walsender = try setup.database.admin.slot(named: setup.database.slot)?.activePID

        let rows = 1_000_000
        try setup.database.sql("""
            INSERT INTO users (username, email, password_hash)
            SELECT 'bulk' || g, 'bulk' || g || '@example.com', 'h' FROM generate_series(1, \(rows)) g
            """)
        let end = try setup.database.currentInsertLSN()
        let clock = ContinuousClock()
        let started = clock.now
        var peak = 0
        var replies = Set<String>()
        try waitUntil("the slot to confirm the 1,000,000-row transaction", timeout: .seconds(400), interval: .milliseconds(500)) {
            peak = max(peak, process.peakResidentBytes() ?? 0)
            #expect(process.isRunning)
            if let reply = try setup.database.sql(
                "SELECT reply_time::text FROM pg_stat_replication WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = '\(setup.database.slot)')"
            ).rows.first?.first ?? nil {
                replies.insert(reply)
            }
            return (try setup.database.confirmedFlush() ?? .zero) >= end
        }
        let elapsed = clock.now - started
        #expect(try setup.database.admin.slot(named: setup.database.slot)?.activePID == walsender, "never cut by wal_sender_timeout")
        #expect(replies.count >= 3, "status updates kept flowing while paused (\(replies.count) distinct reply times)")
        #expect(peak > 0 && peak < Self.residentBound, "peak RSS \(peak / 1_048_576) MiB")
        print("backpressure (\(WalBridgeProcess.fastestExecutable.path)): \(rows) rows in one transaction through a 20 ms broker: \(elapsed), peak RSS \(peak / 1_048_576) MiB")
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
    }
}
