import Configuration
import EventMapping
import Foundation
import PostgresReplication

/// What `walbridge status` reports about the slot (docs/operations.md, "`walbridge status`").
public struct SlotStatus: Sendable, Hashable {
    public var slot: String
    public var database: String
    public var active: Bool
    public var activePID: Int32?
    public var confirmedFlushLSN: LSN?
    /// The checkpoint file's LSN; nil when there is none (or it is unusable: see `checkpointProblem`).
    public var checkpointLSN: LSN?
    /// Postgres cannot stream from before the slot's confirmed flush position.
    public var earliestReplayableLSN: LSN?
    /// `pg_current_wal_lsn() - restart_lsn`: WAL the server keeps for this slot.
    public var retainedWALBytes: Int64
    /// `pg_current_wal_lsn() - confirmed_flush_lsn`.
    public var lagBytes: Int64
    /// The server's WAL position (`pg_current_wal_lsn()`, on a standby the last
    /// replayed): shown by `status --watch`, not in the table or the JSON.
    public var serverWALLSN: LSN? = nil
    /// Why the checkpoint was not shown (unreadable, another slot or system), or nil.
    public var checkpointProblem: String?
    public var checkpointPath: String
    /// The unfinished backfill in the checkpoint, if any.
    public var snapshotJob: SnapshotState.Job?
    /// When the checkpoint was written (for the backfill's average rate).
    public var checkpointUpdatedAt: Date?
    /// Changes lost with a recreated slot: recorded in the checkpoint by
    /// `--recreate-slot` and not yet healed, or found now (the slot is ahead of
    /// a checkpoint it never passes), in which case `run` refuses to start.
    public var gap: SlotGap?
    /// True when `gap` was found now and is not recorded in the checkpoint.
    public var gapUnrecorded = false
    /// The server's version (`serverVersion`, `serverVersionNum` in the JSON).
    public var serverVersion: ServerVersion? = nil
    /// The server is a hot standby (decoding on a standby).
    public var isStandby = false
    /// Postgres 17+: the slot is a failover slot, and (on a standby) a synchronised copy; nil before 17.
    public var failover: Bool? = nil
    public var synced: Bool? = nil
    /// Postgres 17+, on the primary: the standby slots of `synchronized_standby_slots` and their lag.
    public var standbySlots: [StandbySlot] = []

    /// A standby's physical slot on the primary, as `status` shows it.
    public struct StandbySlot: Sendable, Hashable {
        public var slot: String
        public var active: Bool
        /// `pg_current_wal_lsn() - restart_lsn`: how far the standby is behind.
        public var lagBytes: Int64
    }

    /// One JSON object: the fields of docs/operations.md ("`walbridge status`") in its order, then the server's version and the unfinished backfill.
    public var json: String {
        func lsn(_ value: LSN?) -> String { value.map { "\"\($0)\"" } ?? "null" }
        return "{\"slot\": \(LineLogHandler.quoted(slot)), \"active\": \(active), "
            + "\"activePid\": \(activePID.map(String.init) ?? "null"), "
            + "\"confirmedFlushLsn\": \(lsn(confirmedFlushLSN)), \"checkpointLsn\": \(lsn(checkpointLSN)), "
            + "\"earliestReplayableLsn\": \(lsn(earliestReplayableLSN)), "
            + "\"retainedWalBytes\": \(retainedWALBytes), \"lagBytes\": \(lagBytes)"
            + (serverVersion.map { ", \"serverVersion\": \"\($0)\", \"serverVersionNum\": \($0.number)" } ?? "")
            + (serverVersion == nil ? "" : ", \"serverRole\": \"\(isStandby ? "standby" : "primary")\", "
                + "\"failover\": \(failover.map(String.init) ?? "null"), \"synced\": \(synced.map(String.init) ?? "null")")
            + (standbySlots.isEmpty ? "" : ", \"standbySlots\": [" + standbySlots.map {
                "{\"slot\": \(LineLogHandler.quoted($0.slot)), \"active\": \($0.active), \"lagBytes\": \($0.lagBytes)}"
            }.joined(separator: ", ") + "]")
            + (snapshotProgress.map { ", \"snapshot\": " + Self.json($0, job: snapshotJob!) } ?? "")
            + (gap.map { ", \"gap\": " + gapJSON($0) } ?? "") + "}"
    }

    private func gapJSON(_ gap: SlotGap) -> String {
        "{\"checkpointLsn\": \"\(gap.checkpointLSN)\", \"slotLsn\": \"\(gap.slotLSN)\", \"bytes\": \(gap.bytes), "
            + "\"recorded\": \(!gapUnrecorded), "
            + "\"detectedAt\": \(gapUnrecorded ? "null" : "\"\(gap.detectedAt.formatted(.iso8601))\""), "
            + "\"backfillJob\": \(gap.backfillJobID.map { LineLogHandler.quoted($0) } ?? "null")}"
    }

    /// The backfill's numbers: rows delivered, the estimate, the job's average rate and the time left at it.
    public var snapshotProgress: SnapshotProgress? {
        snapshotJob.map { SnapshotProgress(averageOf: $0, now: checkpointUpdatedAt ?? Date()) }
    }

    static func json(_ progress: SnapshotProgress, job: SnapshotState.Job) -> String {
        let tables = progress.tables.map { table in
            "{\"table\": \(LineLogHandler.quoted(table.table)), \"rowsDone\": \(table.rowsDone), "
                + "\"estimatedRows\": \(table.estimatedRows), \"done\": \(table.done)}"
        }
        return "{\"job\": \(LineLogHandler.quoted(job.id)), \"origin\": \"\(job.origin.rawValue)\", "
            + "\"startedAt\": \"\(job.startedAt.formatted(.iso8601))\", \"tables\": [\(tables.joined(separator: ", "))], "
            + "\"rowsDone\": \(progress.rowsDone), \"estimatedRows\": \(progress.estimatedRows), "
            + "\"rowsPerSecond\": \(Int(progress.rowsPerSecond)), "
            + "\"etaSeconds\": \(progress.etaSeconds.map { String(Int($0.rounded(.up))) } ?? "null")}"
    }

    /// The human form: one `name  value` row per field.
    public var table: String {
        let rows: [(String, String)] = [
            ("slot", "\(slot) (database \(database))"),
            ("active", active ? "yes, PID \(activePID.map(String.init) ?? "?")" : "no"),
            ("confirmed flush LSN", confirmedFlushLSN?.description ?? "-"),
            ("checkpoint LSN", (checkpointLSN?.description ?? "-") + "  (\(checkpointPath))"),
            ("earliest replayable LSN", earliestReplayableLSN?.description ?? "-"),
            ("lag", Self.bytes(lagBytes)),
            ("retained WAL", Self.bytes(retainedWALBytes)),
        ] + (serverVersion.map { [("server", "Postgres \($0) (\(isStandby ? "hot standby" : "primary")): " + $0.capabilities.joined(separator: ", "))] } ?? [])
          + (failover.map { failover in
              [("failover slot", failover ? "yes" + (synced == true && isStandby ? " (a synchronised copy on this standby)" : "") : "no (set postgres.failover_slot: true to keep a copy on standbys)")]
          } ?? [])
          + standbySlots.map { ("standby slot", "\($0.slot): " + ($0.active ? "streaming" : "NOT streaming") + ", \(Self.bytes($0.lagBytes)) behind") }
          + (snapshotProgress.map { [("snapshot", $0.line + " (unfinished; `walbridge snapshot` or `walbridge run` resumes it)")] } ?? [])
            + (gap.map { gap in
                gapUnrecorded
                    ? [("slot gap", "the slot is at \(gap.slotLSN), ahead of the checkpoint at \(gap.checkpointLSN): it is not the checkpoint's slot, and `walbridge run` refuses to start (see docs/operations.md, \"Lost slot\")")]
                    : [("slot gap", gap.summary + (gap.isHealing ? " (backfill not yet delivered; /readyz fails until it is)" : ""))]
            } ?? [])
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = ""
        for name in units where value >= 1024 {
            value /= 1024
            unit = name
        }
        return unit.isEmpty ? "\(count) bytes" : String(format: "%.1f %@ (%lld bytes)", value, unit, count)
    }
}

/// `walbridge status` and `walbridge slot drop`: read or drop the configured
/// slot over an ordinary connection. Neither needs the replication protocol.
public enum SourceStatus {
    /// Reads the slot, the server's WAL position and the checkpoint file.
    /// - Throws: `BridgeError`: `.configuration` for a wrong password or URL,
    ///   `.fatal` when the slot does not exist or Postgres cannot be reached.
    public static func read(_ configuration: BridgeConfiguration) throws(BridgeError) -> SlotStatus {
        let connection = try connect(configuration)
        let result: QueryResult
        do {
            result = try connection.query("""
                SELECT (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                             ELSE pg_catalog.pg_current_wal_lsn() END)::text AS wal,
                       pg_catalog.pg_is_in_recovery() AS standby, pg_catalog.current_database() AS db,
                       s.slot_name, s.active, s.active_pid, s.confirmed_flush_lsn::text AS confirmed,
                       s.restart_lsn::text AS restart\(connection.version.supportsFailoverSlots ? ", s.failover, s.synced" : "")
                FROM (SELECT 1) AS one
                LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = $1
                """, parameters: [configuration.postgres.slot])
        } catch {
            throw BridgeError(error, context: "cannot read replication slot '\(configuration.postgres.slot)'")
        }
        let database = result.value(0, "db") ?? "?"
        // The checkpoint, when it is this slot's (an unusable one is shown as a problem, not an error).
        var checkpoint: Checkpoint?
        var checkpointProblem: String?
        do {
            if let stored = try CheckpointStore(path: configuration.checkpoint.path).load() {
                if stored.slot == configuration.postgres.slot {
                    checkpoint = stored
                } else {
                    checkpointProblem = "checkpoint \(configuration.checkpoint.path) belongs to slot '\(stored.slot)', not '\(configuration.postgres.slot)'"
                }
            }
        } catch {
            checkpointProblem = error.description
        }
        guard result.value(0, "slot_name") != nil else {
            if let checkpoint, let refusal = SlotContinuity.refusal(
                .missing(checkpointLSN: checkpoint.lsn), slot: configuration.postgres.slot, checkpointPath: configuration.checkpoint.path) {
                throw BridgeError(code: .slotMissing, kind: .fatal, message: refusal)
            }
            throw BridgeError(code: .slotMissing, kind: .fatal, message:
                "replication slot '\(configuration.postgres.slot)' does not exist in database '\(database)'; `walbridge run` creates it on its first start (check postgres.slot in \(configuration.source))")
        }
        let wal = result.value(0, "wal").flatMap { LSN($0) } ?? .zero
        let confirmed = result.value(0, "confirmed").flatMap { LSN($0) }
        let restart = result.value(0, "restart").flatMap { LSN($0) }
        var status = SlotStatus(
            slot: configuration.postgres.slot, database: database, active: result.value(0, "active") == "t",
            activePID: result.value(0, "active_pid").flatMap { Int32($0) }, confirmedFlushLSN: confirmed,
            checkpointLSN: nil, earliestReplayableLSN: confirmed,
            retainedWALBytes: restart.map { wal > $0 ? Int64(wal.value - $0.value) : 0 } ?? 0,
            lagBytes: confirmed.map { wal > $0 ? Int64(wal.value - $0.value) : 0 } ?? 0,
            checkpointProblem: checkpointProblem, checkpointPath: configuration.checkpoint.path, serverVersion: connection.version)
        status.isStandby = result.value(0, "standby") == "t"
        status.serverWALLSN = result.value(0, "wal").flatMap { LSN($0) }
        if connection.version.supportsFailoverSlots {
            status.failover = result.value(0, "failover") == "t"
            status.synced = result.value(0, "synced") == "t"
            if !status.isStandby {
                // The standbys a failover slot waits for, and how far each is behind.
                let standbys = try? connection.query("""
                    SELECT p.slot_name, p.active, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), p.restart_lsn)::bigint::text
                    FROM unnest(string_to_array(replace(current_setting('synchronized_standby_slots'), ' ', ''), ',')) AS n(name)
                    JOIN pg_catalog.pg_replication_slots p ON p.slot_name = n.name AND p.slot_type = 'physical'
                    """)
                status.standbySlots = standbys?.rows.compactMap { row in
                    row[0].map { SlotStatus.StandbySlot(slot: $0, active: row[1] == "t", lagBytes: Int64(row[2] ?? "") ?? 0) }
                } ?? []
            }
        }
        if let checkpoint {
            status.checkpointLSN = checkpoint.lsn
            status.snapshotJob = checkpoint.snapshot.job
            status.checkpointUpdatedAt = checkpoint.updatedAt
            status.gap = checkpoint.gap
            let continuity = SlotContinuity.check(
                checkpointLSN: checkpoint.lsn, slotFollowsCheckpoint: checkpoint.slotFollowsCheckpoint,
                slotLSN: confirmed ?? .zero, createdNow: false)
            if case .gap(let from, let to) = continuity {
                status.gap = SlotGap(checkpointLSN: from, slotLSN: to, backfillJobID: nil)
                status.gapUnrecorded = true
            }
        }
        return status
    }

    /// Drops the configured slot. Refuses while a connection streams from it.
    /// - Throws: `BridgeError` (`.fatal`) when the slot is missing or in use.
    public static func dropSlot(_ configuration: BridgeConfiguration) throws(BridgeError) {
        let name = configuration.postgres.slot
        let connection = try connect(configuration)
        do {
            guard let slot = try connection.slot(named: name) else {
                throw BridgeError(code: .slotMissing, kind: .fatal, message: "replication slot '\(name)' does not exist; nothing to drop")
            }
            if slot.isActive {
                throw BridgeError(code: .slotInUse, kind: .fatal, message:
                    "replication slot '\(name)' is in use by PID \(slot.activePID.map(String.init) ?? "?"); stop the WalBridge that streams from it, then drop the slot")
            }
            try connection.dropSlot(named: name)
        } catch let error as BridgeError {
            throw error
        } catch let error as PostgresError {
            throw BridgeError(error, context: "cannot drop replication slot '\(name)'")
        } catch {
            throw BridgeError(.fatal, "cannot drop replication slot '\(name)': \(error)")
        }
    }

    private static func connect(_ configuration: BridgeConfiguration) throws(BridgeError) -> PostgresConnection {
        do throws(PostgresError) {
            let connection = try PostgresConnection(url: configuration.postgres.url, replication: false, applicationName: "walbridge-cli")
            if let refusal = connection.version.unsupportedError { throw refusal }
            return connection
        } catch {
            throw BridgeError(error, context: "cannot connect to Postgres (\(configuration.postgres.redactedURL))", retryable: false)
        }
    }
}
