import Foundation
import PostgresReplication

/// A primary and a physical standby of the test server's build on loopback,
/// made with `pg_basebackup`, for failover tests: the `auth` database with the
/// auth service's schema, the `walbridge` role and the publication are made on
/// the primary before the base backup, so the standby has them too.
final class ReplicaPair {
    let primary: TemporaryCluster
    let standbyDirectory: String
    let standbyPort: Int
    /// The standby's physical slot on the primary (its `primary_slot_name`).
    let standbySlot = "standby1"
    private(set) var primaryRunning = true

    /// - Parameters:
    ///   - slotSync: Postgres 17+: the standby synchronises failover slots
    ///     (`sync_replication_slots`, `hot_standby_feedback`, a dbname in `primary_conninfo`).
    ///   - synchronizedStandbySlots: Postgres 17+: the primary holds logical
    ///     walsenders back until the standby has the WAL (`synchronized_standby_slots`).
    init(slotSync: Bool, synchronizedStandbySlots: Bool) throws {
        var settings = ["wal_level = logical", "max_wal_senders = 20", "max_replication_slots = 20", "hot_standby = on",
                        "wal_sender_timeout = 10s", "log_min_messages = warning"]
        if synchronizedStandbySlots { settings.append("synchronized_standby_slots = '\(standbySlot)'") }
        primary = try TemporaryCluster(settings: settings)
        try primary.sql("CREATE ROLE walbridge LOGIN REPLICATION PASSWORD '\(TestDatabase.password)'")
        try primary.sql("CREATE DATABASE auth")
        let schema = try String(contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("sql/auth-schema.sql"), encoding: .utf8)
        try primary.sql(schema, database: "auth")
        try primary.sql("""
            GRANT CONNECT ON DATABASE auth TO walbridge; GRANT USAGE ON SCHEMA public TO walbridge;
            GRANT SELECT ON public.users TO walbridge;
            CREATE PUBLICATION walbridge FOR TABLE public.users (id, username, first_name, last_name, email);
            """, database: "auth")

        standbyDirectory = primary.directory + "-standby"
        // A port of its own from the kernel: the primary's port + 1 may be an
        // ephemeral port a connection (or the other version's suite) holds.
        var port = try freeLoopbackPort()
        while port == primary.port { port = try freeLoopbackPort() }
        standbyPort = port
        try FileManager.default.createDirectory(atPath: standbyDirectory, withIntermediateDirectories: true)
        if getuid() == 0 { try TemporaryCluster.run(["/bin/chown", "postgres:postgres", standbyDirectory], asPostgres: false) }
        try TemporaryCluster.run([
            "\(TemporaryCluster.binaries)/pg_basebackup", "-D", "\(standbyDirectory)/data", "-c", "fast", "-X", "stream", "-R", "-C", "-S", standbySlot,
            "-d", "host=\(primary.directory) port=\(primary.port) user=postgres dbname=postgres",
        ])
        var standbySettings = ["port = \(standbyPort)", "unix_socket_directories = '\(standbyDirectory)'"]
        if slotSync { standbySettings += ["sync_replication_slots = on", "hot_standby_feedback = on"] }
        // The base backup copies the primary's settings: once promoted, the standby
        // would wait for a standby slot it does not have (docs/operations.md, Failover).
        if synchronizedStandbySlots { standbySettings.append("synchronized_standby_slots = ''") }
        try TemporaryCluster.run(["/bin/sh", "-c", "echo \"$0\" >> \(standbyDirectory)/data/postgresql.conf",
                                  standbySettings.joined(separator: "\n")])
        try TemporaryCluster.start(data: "\(standbyDirectory)/data", log: "\(standbyDirectory)/log", timeoutSeconds: 60)
    }

    deinit {
        try? TemporaryCluster.run(["\(TemporaryCluster.binaries)/pg_ctl", "-D", "\(standbyDirectory)/data", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: standbyDirectory)
    }

    /// `postgres://walbridge:…@primary,standby/auth?target_session_attrs=primary`.
    var multiHostURL: String {
        "postgres://walbridge:\(TestDatabase.password)@127.0.0.1:\(primary.port),127.0.0.1:\(standbyPort)/auth"
            + "?target_session_attrs=primary&sslmode=disable&connect_timeout=3"
    }

    /// The standby alone.
    var standbyURL: String {
        "postgres://walbridge:\(TestDatabase.password)@127.0.0.1:\(standbyPort)/auth?sslmode=disable"
    }

    /// The primary alone.
    var primaryURL: String {
        "postgres://walbridge:\(TestDatabase.password)@127.0.0.1:\(primary.port)/auth?sslmode=disable"
    }

    /// A superuser session on the primary's or the standby's `auth` database.
    func admin(standby: Bool = false) throws -> PostgresConnection {
        try PostgresConnection(url: "host=\(standby ? standbyDirectory : primary.directory) port=\(standby ? standbyPort : primary.port) user=postgres dbname=auth",
                               replication: false)
    }

    /// Kills the primary as a crash would (`pg_ctl stop -m immediate`).
    func killPrimary() throws {
        try TemporaryCluster.run(["\(TemporaryCluster.binaries)/pg_ctl", "-D", "\(primary.directory)/data", "-m", "immediate", "stop"])
        primaryRunning = false
    }

    /// Promotes the standby and waits until it accepts writes.
    func promoteStandby() throws {
        try TemporaryCluster.run(["\(TemporaryCluster.binaries)/pg_ctl", "-D", "\(standbyDirectory)/data", "-w", "-t", "60", "promote"])
    }
}
