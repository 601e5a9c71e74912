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
        return ValidationReport(
            server: connection.safeDescription, serverVersion: connection.version, systemID: prepared.identity.systemID, database: prepared.identity.database,
            checks: checks, warnings: prepared.warnings, wouldCreate: prepared.wouldCreate)
    }
}
