import Configuration
import EventMapping
import Logging
import PostgresReplication

/// What `walbridge validate` found.
public struct ValidationReport: Sendable {
    public var server: String
    /// The server's version, and so what it offers (`ServerVersion.capabilities`).
    public var serverVersion: ServerVersion
    public var systemID: String
    public var database: String
    public var checks: [String]
    public var warnings: [String]
    public var wouldCreate: [String]
}

/// `walbridge validate`: every check `run` makes before streaming, without
/// creating or changing anything.
public enum SourceValidation {
    public static func validate(_ configuration: BridgeConfiguration, logger: Logger) throws(BridgeError) -> ValidationReport {
        let (connection, prepared) = try SourcePreflight.dryRun(configuration, logger: logger)
        var checks = [
            "Postgres \(connection.version) (\(ServerVersion.oldestSupportedMajor) or later): " + connection.version.capabilities.joined(separator: ", "),
            "wal_level = logical", "role '\(connection.user)' has REPLICATION",
        ]
        for (table, key) in prepared.keyColumns.sorted(by: { $0.key.description < $1.key.description }) {
            checks.append("table \(table): mapped columns exist, key (\(key.joined(separator: ", ")))")
        }
        if let slot = prepared.slot {
            checks.append("slot '\(slot.name)' (pgoutput), confirmed flush \(slot.confirmedFlushLSN.map { "\($0)" } ?? "none")"
                + (slot.isActive ? ", in use by PID \(slot.activePID.map(String.init) ?? "?")" : ""))
        }
        var warnings = prepared.warnings
        if let checkpoint = try checkpoint(configuration, systemID: prepared.identity.systemID) {
            // `run` refuses a lost slot (exit 2): say so now, not at the first start.
            let continuity = SlotContinuity.check(
                checkpointLSN: checkpoint.lsn, slotFollowsCheckpoint: checkpoint.slotFollowsCheckpoint,
                slotLSN: prepared.slot.map { $0.confirmedFlushLSN ?? .zero }, createdNow: false)
            if let refusal = SlotContinuity.refusal(continuity, slot: configuration.postgres.slot, checkpointPath: configuration.checkpoint.path) {
                throw BridgeError(code: .slotGap, kind: .configuration, message: refusal)
            }
            checks.append("checkpoint \(configuration.checkpoint.path) at \(checkpoint.lsn) continues slot '\(configuration.postgres.slot)'")
            if let gap = checkpoint.gap { warnings.append("slot gap not yet healed: \(gap.summary)") }
        }
        return ValidationReport(
            server: connection.safeDescription, serverVersion: connection.version, systemID: prepared.identity.systemID, database: prepared.identity.database,
            checks: checks, warnings: warnings, wouldCreate: prepared.wouldCreate)
    }

    /// The checkpoint file, checked as `run` checks it (exit 2 when unusable), or nil when there is none.
    private static func checkpoint(_ configuration: BridgeConfiguration, systemID: String) throws(BridgeError) -> Checkpoint? {
        let checkpoint: Checkpoint?
        do {
            checkpoint = try CheckpointStore(path: configuration.checkpoint.path).load()
        } catch {
            throw BridgeError(error)
        }
        if let checkpoint, let problem = checkpoint.ownershipProblem(
            systemID: systemID, slot: configuration.postgres.slot, path: configuration.checkpoint.path) {
            throw BridgeError(code: .checkpointUnusable, kind: .configuration, message: problem)
        }
        return checkpoint
    }
}
