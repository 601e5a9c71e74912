/// An error from Postgres or from libpq, classified for WalBridge's exit codes and
/// retry policy.
///
/// Messages come from libpq and the server; they name hosts, roles and databases
/// but never a password (libpq never echoes one).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in the terms the retry policy needs.
    public enum Kind: Sendable, Hashable {
        /// The server could not be reached, or the connection dropped: retry.
        case unreachable
        /// The server refused who we are: wrong password, unknown role, no pg_hba entry.
        case authentication
        /// The configuration does not match the database (missing table, wal_level, rights).
        case configuration
        /// A query failed for another reason.
        case query
        /// The server sent something the replication protocol does not allow.
        case protocolViolation
    }

    public var kind: Kind
    /// The SQLSTATE code, when the server sent one.
    public var sqlState: String?
    public var message: String

    public init(kind: Kind, sqlState: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    /// True when the error is about the configuration (exit status 2), false for
    /// runtime failures (exit status 1, or retry).
    public var isConfigurationError: Bool {
        kind == .authentication || kind == .configuration
    }

    /// True when reconnecting may help.
    public var isTransient: Bool {
        switch kind {
        case .unreachable: return true
        case .query:
            // Class 08 (connection exception), 57P01..03 (admin shutdown, crash, cannot connect now),
            // 53 (insufficient resources), 40001/40P01 (serialization, deadlock).
            guard let state = sqlState else { return true }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
                || state == "40001" || state == "40P01"
        default: return false
        }
    }

    public var description: String { message }

    /// Classifies a server error by SQLSTATE: errors a user fixes in configuration
    /// or grants are `.configuration`, others `.query`.
    static func fromServer(sqlState: String?, message: String) -> PostgresError {
        let kind: Kind
        switch sqlState {
        case .some(let s) where s.hasPrefix("28"): kind = .authentication        // invalid authorization
        case "42501", "42P01", "42703", "42704", "3D000", "55000", "42710", "22023":
            // insufficient privilege, undefined table/column/object, unknown database,
            // object not in prerequisite state (e.g. wal_level), duplicate object, invalid parameter
            kind = .configuration
        case .some(let s) where s.hasPrefix("08") || s.hasPrefix("57P"): kind = .unreachable
        default: kind = .query
        }
        return PostgresError(kind: kind, sqlState: sqlState, message: message)
    }

    /// Classifies a failed connection attempt from libpq's message (no SQLSTATE is
    /// available before the connection is up).
    static func fromConnectFailure(_ raw: String) -> PostgresError {
        let message = raw.trimmingTrailingWhitespace()
        let lower = message.lowercased()
        // Postgres 15: "must be superuser or replication role to start walsender";
        // 16 and later: "permission denied to start WAL sender".
        if lower.contains("must be superuser or replication role") || lower.contains("permission denied to start wal sender") {
            return PostgresError(kind: .configuration, message: message
                + "; the role lacks the REPLICATION attribute: run ALTER ROLE <role> REPLICATION as a superuser (see sql/walbridge-setup.sql)")
        }
        let authenticationMarkers = [
            "password authentication failed", "no pg_hba.conf entry", "role \"", "authentication failed",
            "no password supplied", "password is required", "pg_hba.conf rejects",
        ]
        if authenticationMarkers.contains(where: lower.contains) {
            return PostgresError(kind: .authentication, message: message)
        }
        if lower.contains("database \"") && lower.contains("does not exist") {
            return PostgresError(kind: .configuration, message: message)
        }
        if lower.contains("invalid connection option") || lower.contains("invalid uri")
            || lower.contains("invalid sslmode") || lower.contains("invalid integer value")
            || lower.contains("missing \"=\"") || lower.contains("invalid percent-encoded")
            || lower.contains("root certificate file") || lower.contains("certificate")
        {
            return PostgresError(kind: .configuration, message: message)
        }
        return PostgresError(kind: .unreachable, message: message)
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
