/// An error from Postgres or from libpq, classified for WalBridge's exit codes and
/// retry policy.
///
/// Server errors are classified by their SQLSTATE only (`kind(forSQLState:)`),
/// never by their text: the text changes between major versions (a role
/// without REPLICATION reads "must be superuser or replication role to start
/// walsender" on 15 and "permission denied to start WAL sender" on 16 and
/// later, both 42501) and with `lc_messages`. Errors libpq raises itself have
/// no SQLSTATE; they are classified by where the connection attempt stopped
/// (`ConnectStage`).
///
/// Messages come from libpq and the server; they name hosts, roles and databases
/// but never a password (libpq never echoes one).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in the terms the retry policy needs.
    public enum Kind: Sendable, Hashable {
        /// The server could not be reached, the connection dropped, or the server
        /// cannot serve us now (shutting down, out of connection slots): retry.
        case unreachable
        /// The server refused who we are: wrong password, unknown role, no pg_hba entry.
        case authentication
        /// The TLS (or GSSAPI encryption) handshake failed on our side: a server
        /// certificate the configured CA does not vouch for, a missing
        /// certificate file, a server without TLS under `sslmode=require`.
        case tls
        /// The configuration does not match the database (missing table, wal_level,
        /// rights, a database that does not exist, connection settings libpq refuses).
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
        kind == .authentication || kind == .configuration || kind == .tls
    }

    /// True when reconnecting may help.
    public var isTransient: Bool {
        switch kind {
        case .unreachable: return true
        case .query:
            // 40001/40P01 (serialization failure, deadlock); a query error without
            // SQLSTATE comes from libpq losing the connection.
            guard let state = sqlState else { return true }
            return state == "40001" || state == "40P01"
        default: return false
        }
    }

    public var description: String { message }

    /// The one classification of a server error: by its SQLSTATE (Postgres
    /// documentation, appendix A), which every version since 7.4 sends and
    /// which, unlike the text, does not change between versions or languages.
    public static func kind(forSQLState state: String) -> Kind {
        switch state {
        case _ where state.hasPrefix("28"):
            // 28000 invalid_authorization_specification (unknown role, no pg_hba.conf
            // entry), 28P01 invalid_password.
            return .authentication
        case "42501", "3D000", "42P01", "42703", "42704", "42710", "22023", "55000":
            // insufficient_privilege (no REPLICATION attribute, no CONNECT or SELECT),
            // invalid_catalog_name (unknown database), undefined table/column/object,
            // duplicate object, invalid parameter value, object not in prerequisite
            // state (wal_level below logical, a slot in use).
            return .configuration
        case _ where state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53"):
            // connection exception; admin/crash shutdown, cannot connect now;
            // insufficient resources (53300 too_many_connections): runtime, retry.
            return .unreachable
        default:
            return .query
        }
    }

    /// Classifies a server error by SQLSTATE (`kind(forSQLState:)`).
    static func fromServer(sqlState: String?, message: String) -> PostgresError {
        PostgresError(kind: sqlState.map(kind(forSQLState:)) ?? .query, sqlState: sqlState, message: message)
    }
}

// MARK: - Failed connection attempts

extension PostgresError {
    /// How far a failed connection attempt got, as libpq's connection state
    /// machine showed it; this classifies the failures libpq raises itself,
    /// which carry no SQLSTATE.
    public enum ConnectStage: Sendable, Hashable {
        /// libpq refused the connection settings before contacting anyone
        /// (`PQpingParams` answers `PQPING_NO_ATTEMPT`): a bad `sslmode`, port, option.
        case settingsRejected
        /// The TCP (or Unix socket) connection was not made, or broke, or timed out.
        case network
        /// The server answered, and the TLS or GSSAPI handshake failed.
        case tlsHandshake
        /// The server asked for a password and none was configured.
        case passwordMissing
        /// The connection was made and then failed after the handshake.
        case afterHandshake
    }

    /// Where a connection goes, for the advice in the message.
    public struct ConnectTarget: Sendable, Hashable {
        public var role: String
        public var database: String
        public var replication: Bool

        public init(role: String, database: String, replication: Bool) {
            self.role = role
            self.database = database
            self.replication = replication
        }
    }

    /// Classifies a failed connection attempt.
    ///
    /// - Parameter verboseMessage: `PQerrorMessage` of a connection whose error
    ///   verbosity was `PQERRORS_VERBOSE` while it connected. libpq keeps the
    ///   SQLSTATE of a startup error only in a private field (`last_sqlstate`):
    ///   the error's `PGresult` is freed inside `PQconnectPoll` (after
    ///   authentication) or never handed out (during it), so `PQresultErrorField`
    ///   cannot reach it and `PQgetResult` returns NULL on a failed connection.
    ///   The public route is the message: in verbose mode libpq writes each
    ///   server error as `SEVERITY:  SQLSTATE: primary message` followed by
    ///   DETAIL, HINT and LOCATION lines (`pqBuildErrorMessage3`), so the code
    ///   is read from that fixed position, never from the wording.
    /// - Parameter stage: how far the attempt got; used only when the server sent no SQLSTATE.
    public static func connectFailure(verboseMessage: String, stage: ConnectStage, target: ConnectTarget) -> PostgresError {
        let parsed = VerboseErrorText(verboseMessage)
        let message = parsed.message.isEmpty ? "the connection to Postgres failed" : parsed.message
        guard let state = parsed.sqlState else {
            switch stage {
            case .settingsRejected:
                return PostgresError(kind: .configuration, message: message
                    + "; libpq refused the connection settings before connecting: fix postgres.url")
            case .tlsHandshake where isTransportFailure(message):
                // The server or the path went away while TLS was being
                // negotiated (a restart, a reset): nothing to fix in the settings.
                return PostgresError(kind: .unreachable, message: message)
            case .tlsHandshake:
                return PostgresError(kind: .tls, message: message
                    + "; check sslmode, that sslrootcert names the CA that signed the server's certificate, and that the certificate names the host in the URL")
            case .passwordMissing:
                return PostgresError(kind: .authentication, message: message
                    + "; the server asks for a password for role '\(target.role)': put it in postgres.url (for example through ${ENV_VAR}) or in a .pgpass file")
            case .network, .afterHandshake:
                return PostgresError(kind: .unreachable, message: message)
            }
        }
        let kind = kind(forSQLState: state)
        return PostgresError(kind: kind, sqlState: state, message: message + advice(forSQLState: state, target: target))
    }

    /// libpq's own words (no SQLSTATE) for a connection that broke underneath it,
    /// as opposed to a TLS setting or certificate it could not accept. In the
    /// TLS stage these mean the server closed or reset the socket (it was
    /// restarting, or a proxy cut the path), which a retry may pass; any other
    /// failure there is a TLS problem to fix. With a translated libpq (NLS and
    /// a non-English locale) none match, and such a failure stays a TLS error.
    static let transportFailureSignatures = [
        "server closed the connection unexpectedly", "Connection reset by peer", "could not receive data from server",
        "could not send data to server", "SSL SYSCALL error: EOF detected", "Broken pipe", "Connection timed out",
    ]

    static func isTransportFailure(_ message: String) -> Bool {
        transportFailureSignatures.contains { message.contains($0) }
    }

    /// What to do about a connection refused with `state`, or "".
    static func advice(forSQLState state: String, target: ConnectTarget) -> String {
        switch state {
        case "42501" where target.replication:
            return "; the role '\(target.role)' may not open a replication session: run ALTER ROLE \(target.role) REPLICATION as a superuser"
                + " (see sql/walbridge-setup.sql), and check that it has CONNECT on database '\(target.database)'"
        case "42501":
            return "; run GRANT CONNECT ON DATABASE \(target.database) TO \(target.role) as the database's owner"
        case "28P01":
            return "; check the role and password in postgres.url"
        case "28000":
            return "; check the role in postgres.url, and that pg_hba.conf lets it connect to database '\(target.database)'"
                + (target.replication ? " (a replication=database session matches the database's own lines)" : "")
        case "3D000":
            return "; database '\(target.database)' does not exist on this server: fix the database in postgres.url, or create it"
        case "53300":
            return "; the server has no free connection slot: WalBridge retries; raise max_connections (or max_wal_senders) or close idle sessions"
        default:
            return ""
        }
    }
}

/// The SQLSTATE and the readable part of a libpq error message written with
/// `PQERRORS_VERBOSE`: one or more lines `…failed: SEVERITY:  CODE: message`,
/// then DETAIL/HINT lines, then `LOCATION:  function, file:line`.
struct VerboseErrorText {
    /// The SQLSTATE of the last server error in the text (libpq tries hosts
    /// and TLS modes in turn; the last attempt's error is the one that stands).
    var sqlState: String?
    /// The text without the SQLSTATE token and the LOCATION lines (the server's
    /// source position), lines joined with "; ".
    var message: String

    init(_ text: String) {
        var lines: [String] = []
        var state: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = String(rawLine.drop(while: \.isWhitespace)).trimmingTrailingWhitespace()
            if line.hasPrefix("LOCATION:  ") { continue }
            if let (code, range) = Self.sqlStateToken(in: line) {
                state = code
                line.removeSubrange(range)
            }
            // libpq retries (sslmode=prefer: with TLS, then without) often fail alike.
            if !line.isEmpty && line != lines.last { lines.append(line) }
        }
        sqlState = state
        message = lines.joined(separator: "; ")
    }

    /// The first `:  XXXXX: ` in `line` (the severity's colon and two spaces,
    /// a five-character SQLSTATE of digits and capitals, a colon and a space):
    /// the code, and the range of `XXXXX: ` to cut out.
    static func sqlStateToken(in line: String) -> (String, Range<String.Index>)? {
        let characters = Array(line.unicodeScalars)
        guard characters.count >= 10 else { return nil }
        func isCodeCharacter(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) || ("A"..."Z").contains(c) }
        var index = 0
        while index + 10 <= characters.count {
            if characters[index] == ":", characters[index + 1] == " ", characters[index + 2] == " ",
               characters[(index + 3)..<(index + 8)].allSatisfy(isCodeCharacter),
               characters[index + 8] == ":", characters[index + 9] == " "
            {
                let scalars = line.unicodeScalars
                let start = scalars.index(scalars.startIndex, offsetBy: index + 3)
                let codeEnd = scalars.index(start, offsetBy: 5)
                let end = scalars.index(codeEnd, offsetBy: 2)
                return (String(scalars[start..<codeEnd]), start..<end)
            }
            index += 1
        }
        return nil
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
