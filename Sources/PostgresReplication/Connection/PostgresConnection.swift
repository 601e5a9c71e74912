import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection to Postgres: an ordinary SQL session, or a
/// `replication=database` session that can also stream logical replication.
///
/// The `PGconn` stays inside this class and is freed in `deinit`. A connection is
/// used from one thread at a time; it is not `Sendable`.
public final class PostgresConnection {
    private let handle: OpaquePointer

    /// Session settings that make the walsender write values in the forms
    /// WalBridge decodes, whatever the server's defaults (docs/events.md, "Value encoding").
    public static let sessionOptions =
        "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c lc_monetary=C"

    /// TCP settings for a path that stalls without closing (a NAT or firewall
    /// that dropped the connection's state): keepalive probes after 10 s of
    /// silence, every 5 s, 3 unanswered ones end the connection (about 25 s);
    /// data the server has not acknowledged for 30 s ends it too
    /// (`tcp_user_timeout`, Linux). They are passed before `dbname`, so the same
    /// settings in the user's URL win (docs/operations.md: half-open connections).
    public static let tcpDefaults: [(keyword: String, value: String)] = [
        ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"),
        ("keepalives_count", "3"), ("tcp_user_timeout", "30000"),
    ]

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - url: a `postgres://` URL or a `key=value` conninfo string; its password is never logged.
    ///   - replication: open a `replication=database` session (for slots and streaming).
    ///   - applicationName: shown in `pg_stat_activity` / `pg_stat_replication`.
    ///   - connectTimeoutSeconds: how long the attempt on each host may take
    ///     (libpq's `connect_timeout`; 0 waits for ever).
    /// - Throws: `PostgresError` of kind `.unreachable`, `.authentication`, `.tls` or
    ///   `.configuration` (see `PostgresError.connectFailure`).
    public init(
        url: String, replication: Bool, applicationName: String = "walbridge", connectTimeoutSeconds: Int = 10
    ) throws(PostgresError) {
        // `dbname` with expand_dbname=1 takes a whole URL or conninfo; the keywords
        // after it override what the URL says, so our session settings always win.
        // The TCP keepalive settings come before it: the URL's own win over them.
        var keywords = Self.tcpDefaults.map(\.keyword) + ["dbname", "application_name", "options", "connect_timeout", "client_encoding"]
        var values = Self.tcpDefaults.map(\.value) + [url, applicationName, Self.sessionOptions, String(connectTimeoutSeconds), "UTF8"]
        if replication {
            keywords.append("replication")
            values.append("database")
        }
        let conn = try Self.connectToFirstHost(keywords: keywords, values: values, timeoutSeconds: connectTimeoutSeconds, replication: replication)
        self.version = try Self.serverVersion(of: conn)
        self.handle = conn
    }

    /// Connects to one host of a multi-host URL alone (the `index`-th, from 0),
    /// whatever its role (`target_session_attrs=any`): for checking a standby
    /// that the URL lists after its primary.
    public init(
        url: String, host index: Int, replication: Bool, applicationName: String = "walbridge-check", connectTimeoutSeconds: Int = 5
    ) throws(PostgresError) {
        var keywords = Self.tcpDefaults.map(\.keyword)
            + ["dbname", "application_name", "options", "connect_timeout", "client_encoding", "target_session_attrs"]
        var values = Self.tcpDefaults.map(\.value) + [url, applicationName, Self.sessionOptions, String(connectTimeoutSeconds), "UTF8", "any"]
        if replication {
            keywords.append("replication")
            values.append("database")
        }
        let hosts = Self.hostOverrides(conninfo: url)
        if hosts.indices.contains(index) {
            keywords += hosts[index].map(\.keyword)
            values += hosts[index].map(\.value)
        }
        let conn = try Self.connect(keywords: keywords, values: values, timeoutSeconds: connectTimeoutSeconds, replication: replication)
        self.version = try Self.serverVersion(of: conn)
        self.handle = conn
    }

    /// How many hosts a URL or conninfo lists (1 for one host).
    public static func hostCount(url: String) -> Int { max(1, hostOverrides(conninfo: url).count) }

    /// Tries the hosts of a multi-host URL (`host=a,b`) one at a time, each with
    /// its own timeout, moving on while the failure is a runtime one (not
    /// reached, timed out, not read-write under `target_session_attrs`, starting
    /// up) and stopping at the first one the server refused for a reason of
    /// configuration — as libpq's blocking connect does. `connect` alone could
    /// not: in the non-blocking sequence libpq leaves the timeout to the caller,
    /// and a caller cannot tell it to give up on one host and go to the next.
    private static func connectToFirstHost(
        keywords: [String], values: [String], timeoutSeconds: Int, replication: Bool
    ) throws(PostgresError) -> OpaquePointer {
        // The URL is the value of the first `dbname` (the TCP defaults come before it).
        let hosts = hostOverrides(conninfo: keywords.firstIndex(of: "dbname").map { values[$0] } ?? "")
        guard hosts.count > 1 else {
            return try connect(keywords: keywords, values: values, timeoutSeconds: timeoutSeconds, replication: replication)
        }
        var messages: [String] = []
        for (index, host) in hosts.enumerated() {
            do {
                return try connect(
                    keywords: keywords + host.map(\.keyword), values: values + host.map(\.value),
                    timeoutSeconds: timeoutSeconds, replication: replication)
            } catch {
                messages.append(error.message)
                guard error.kind == .unreachable, index < hosts.count - 1 else {
                    throw PostgresError(kind: error.kind, sqlState: error.sqlState, message: messages.joined(separator: "; "))
                }
            }
        }
        throw PostgresError(kind: .unreachable, message: messages.joined(separator: "; "))
    }

    /// For a connection string naming several hosts, the `host`, `hostaddr` and
    /// `port` settings of each, in order (libpq's comma-separated lists, one
    /// port for all or one per host); empty for one host or a string libpq
    /// cannot parse (the attempt then reports why).
    static func hostOverrides(conninfo: String) -> [[(keyword: String, value: String)]] {
        var error: UnsafeMutablePointer<CChar>? = nil
        guard let options = PQconninfoParse(conninfo, &error) else {
            if let error { PQfreemem(error) }
            return []
        }
        defer { PQconninfoFree(options) }
        var lists: [String: [String]] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if ["host", "hostaddr", "port"].contains(name), let value = option.pointee.val {
                lists[name] = String(cString: value).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
            option += 1
        }
        let count = max(lists["host"]?.count ?? 0, lists["hostaddr"]?.count ?? 0)
        // Lists that do not match are libpq's to report ("could not match 2 port numbers to 3 hosts").
        guard count > 1, [lists["host"], lists["hostaddr"]].allSatisfy({ $0 == nil || $0!.count == count }),
              lists["port"].map({ $0.count == 1 || $0.count == count }) ?? true else { return [] }
        return (0..<count).map { index in
            var settings: [(keyword: String, value: String)] = []
            for name in ["host", "hostaddr"] {
                if let list = lists[name] { settings.append((name, list[index])) }
            }
            if let ports = lists["port"] {
                settings.append(("port", ports.count == 1 ? ports[0] : ports[index]))
            }
            return settings
        }
    }

    /// Runs libpq's non-blocking connection sequence (`PQconnectStartParams`,
    /// then `PQconnectPoll` until it finishes) instead of `PQconnectdbParams`,
    /// for one reason: the connection's error verbosity must be
    /// `PQERRORS_VERBOSE` before the server's startup error arrives, so that the
    /// error message carries the SQLSTATE (`PostgresError.connectFailure` says
    /// why the message is the only place libpq exposes it), and the blocking call
    /// gives no moment to set it. The sequence is the one libpq's documentation
    /// gives for `PQconnectPoll`; the timeout, which libpq leaves to the caller
    /// in this mode, applies to the whole sequence (`connectToFirstHost` makes it
    /// per host, as libpq's blocking call does).
    private static func connect(
        keywords: [String], values: [String], timeoutSeconds: Int, replication: Bool
    ) throws(PostgresError) -> OpaquePointer {
        let started: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectStartParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let conn = started else {
            throw PostgresError(kind: .unreachable, message: "libpq could not allocate a connection (out of memory)")
        }
        PQsetErrorVerbosity(conn, PQERRORS_VERBOSE)
        if PQstatus(conn) == CONNECTION_BAD {
            // Failed before any wait: settings libpq rejects, or a host that cannot be
            // resolved or refused at once. libpq's ping tells the two apart without
            // reading the message: PQPING_NO_ATTEMPT means "parameters obviously
            // incorrect". The port is the one setting libpq checks only when it
            // starts to connect (so the ping tries and says "no response"): check it
            // in the options libpq settled on.
            let ping = withCStringArray(keywords) { keywordPointers in
                withCStringArray(values) { valuePointers in PQpingParams(keywordPointers, valuePointers, 1) }
            }
            let rejected = ping == PQPING_NO_ATTEMPT || hasInvalidPort(conn)
            throw failure(of: conn, stage: rejected ? .settingsRejected : .network, replication: replication)
        }
        // libpq treats connect_timeout values of 1 as 2 seconds, and 0 as no limit.
        let deadline: ContinuousClock.Instant? = timeoutSeconds > 0 ? .now + .seconds(max(timeoutSeconds, 2)) : nil
        var polling = PGRES_POLLING_WRITING
        while true {
            switch polling {
            case PGRES_POLLING_OK:
                return conn
            case PGRES_POLLING_READING, PGRES_POLLING_WRITING:
                guard waitForConnectSocket(conn, wantWrite: polling == PGRES_POLLING_WRITING, until: deadline) else {
                    let host = String(cString: PQhost(conn)), port = String(cString: PQport(conn))
                    PQfinish(conn)
                    throw PostgresError(kind: .unreachable,
                        message: "connection to server at \"\(host)\", port \(port) failed: timeout expired after \(max(timeoutSeconds, 2)) s")
                }
                let before = PQstatus(conn)
                polling = PQconnectPoll(conn)
                if polling == PGRES_POLLING_FAILED {
                    throw failure(of: conn, stage: stage(conn, failedIn: before), replication: replication)
                }
            default:
                throw failure(of: conn, stage: .network, replication: replication)
            }
        }
    }

    /// True when the connection's `port` setting (a comma-separated list, one per
    /// host; empty for the default) holds something other than a port number.
    private static func hasInvalidPort(_ conn: OpaquePointer) -> Bool {
        guard let options = PQconninfo(conn) else { return false }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "port", let value = option.pointee.val {
                return String(cString: value).split(separator: ",", omittingEmptySubsequences: false).contains { port in
                    let text = String(port.drop(while: \.isWhitespace)).trimmingTrailingWhitespace()
                    return !text.isEmpty && !(Int(text).map { (1...65_535).contains($0) } ?? false)
                }
            }
            option += 1
        }
        return false
    }

    /// How far an attempt got, from the state `PQconnectPoll` started its failing call in.
    private static func stage(_ conn: OpaquePointer, failedIn state: ConnStatusType) -> PostgresError.ConnectStage {
        if PQconnectionNeedsPassword(conn) == 1 { return .passwordMissing }
        switch state {
        case CONNECTION_SSL_STARTUP, CONNECTION_GSS_STARTUP:
            return .tlsHandshake
        case CONNECTION_STARTED, CONNECTION_MADE, CONNECTION_NEEDED:
            return .network
        default:
            return .afterHandshake
        }
    }

    /// The classified error of a failed attempt; frees the connection.
    private static func failure(of conn: OpaquePointer, stage: PostgresError.ConnectStage, replication: Bool) -> PostgresError {
        let message = String(cString: PQerrorMessage(conn))
        let target = PostgresError.ConnectTarget(
            role: PQuser(conn).map { String(cString: $0) } ?? "", database: PQdb(conn).map { String(cString: $0) } ?? "",
            replication: replication)
        PQfinish(conn)
        return PostgresError.connectFailure(verboseMessage: message, stage: stage, target: target)
    }

    /// Waits for the connection's current socket (it changes between attempts),
    /// until `deadline`. False when the deadline passed first.
    private static func waitForConnectSocket(_ conn: OpaquePointer, wantWrite: Bool, until deadline: ContinuousClock.Instant?) -> Bool {
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(wantWrite ? POLLOUT : POLLIN), revents: 0)
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - .now
                guard left > .zero else { return false }
                let (seconds, attoseconds) = left.components
                timeout = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, Int64(Int32.max)))
            }
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return true }   // let PQconnectPoll report the socket's error
        }
    }

    /// `server_version_num` as libpq read it from the server's startup
    /// parameters (`PQserverVersion`, the same number without a round trip),
    /// or, from a server that did not report `server_version`, by asking.
    private static func serverVersion(of conn: OpaquePointer) throws(PostgresError) -> ServerVersion {
        let reported = Int(PQserverVersion(conn))
        if reported > 0 { return ServerVersion(number: reported) }
        guard let result = PQexec(conn, "SHOW server_version_num") else {
            PQfinish(conn)
            throw PostgresError(kind: .unreachable, message: "the connection to Postgres was lost while reading server_version_num")
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK, PQntuples(result) == 1,
              let number = Int(String(cString: PQgetvalue(result, 0, 0))) else {
            PQfinish(conn)
            throw PostgresError(kind: .protocolViolation, message: "the server did not report server_version_num")
        }
        return ServerVersion(number: number)
    }

    deinit {
        PQfinish(handle)
    }

    /// The server's version, read when the connection was made.
    public let version: ServerVersion

    /// The server's version number (`150018` for 15.18).
    public var serverVersion: Int { version.number }

    /// The backend's process id.
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// The role the session is logged in as.
    public var user: String { String(cString: PQuser(handle)) }

    /// A description of where this connection goes, safe to log: `role@host:port/db`.
    public var safeDescription: String {
        let host = String(cString: PQhost(handle))
        let port = String(cString: PQport(handle))
        let db = String(cString: PQdb(handle))
        return "\(user)@\(host):\(port)/\(db)"
    }

    /// True while the connection is usable.
    public var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Runs one statement with the simple query protocol (the only one a
    /// replication session accepts) and returns its rows as text.
    ///
    /// Interpolate values only through `quoteLiteral(_:)` / `quoteIdentifier(_:)`.
    @discardableResult
    public func query(_ sql: String) throws(PostgresError) -> QueryResult {
        try rows(of: PQexec(handle, sql))
    }

    /// Runs a statement with `$1…$n` parameters sent separately (extended
    /// protocol; ordinary sessions only).
    @discardableResult
    public func query(_ sql: String, parameters: [String?]) throws(PostgresError) -> QueryResult {
        let result: OpaquePointer? = withOptionalCStringArray(parameters) { pointers in
            PQexecParams(handle, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try rows(of: result)
    }

    /// Runs a statement with `$1…$n` parameters (extended protocol, ordinary
    /// sessions only) and keeps its rows in libpq's result, with each column's
    /// type: for bulk reads that decode values by type (a snapshot chunk).
    public func queryRowSet(_ sql: String, parameters: [String?]) throws(PostgresError) -> RowSet {
        let result: OpaquePointer? = withOptionalCStringArray(parameters) { pointers in
            PQexecParams(handle, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        try check(result)
        return RowSet(owning: result!)
    }

    /// Copies out a finished statement's rows (and frees the result), or throws its error.
    private func rows(of result: OpaquePointer?) throws(PostgresError) -> QueryResult {
        try check(result)
        defer { PQclear(result) }
        return QueryResult(copying: result!)
    }

    /// Throws the error of a failed statement (and frees its result), or of a lost connection.
    private func check(_ result: OpaquePointer?) throws(PostgresError) {
        guard let result else { throw connectionError() }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return
        default:
            defer { PQclear(result) }
            throw serverError(from: result)
        }
    }

    /// `text` as an SQL string literal, escaped by libpq for this connection.
    public func quoteLiteral(_ text: String) -> String {
        guard let escaped = PQescapeLiteral(handle, text, text.utf8.count) else {
            return "'" + text.replacingAll("'", with: "''") + "'"
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// `name` as a quoted SQL identifier.
    public func quoteIdentifier(_ name: String) -> String {
        guard let escaped = PQescapeIdentifier(handle, name, name.utf8.count) else {
            return "\"" + name.replacingAll("\"", with: "\"\"") + "\""
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    // MARK: - CopyBoth (streaming replication)

    /// Sends a replication command that enters CopyBoth mode (`START_REPLICATION`).
    func startCopyBoth(_ command: String) throws(PostgresError) {
        guard let result = PQexec(handle, command) else { throw connectionError() }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_BOTH else {
            throw serverError(from: result)
        }
        guard PQsetnonblocking(handle, 1) == 0 else {
            throw connectionError()
        }
    }

    /// The outcome of one non-blocking read in CopyBoth mode.
    enum CopyRead {
        /// A CopyData message was handed to the body.
        case message
        /// Nothing is buffered; wait for the socket.
        case wouldBlock
        /// The server ended the copy (for example the slot was dropped).
        case ended
    }

    /// Reads one CopyData message if one is buffered, handing its bytes to `body`
    /// without copying them (the buffer is libpq's and is freed afterwards).
    func readCopyData<E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(StreamReadError<E>) -> CopyRead {
        var buffer: UnsafeMutablePointer<CChar>? = nil
        let length = PQgetCopyData(handle, &buffer, 1)
        if length > 0, let buffer {
            defer { PQfreemem(buffer) }
            do {
                try body(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            } catch {
                throw .handler(error)
            }
            return .message
        }
        if length == 0 { return .wouldBlock }
        if length == -1 {
            // The copy is over: collect the final result, which carries the reason.
            if let result = PQgetResult(handle) {
                defer { PQclear(result) }
                let status = PQresultStatus(result)
                if status != PGRES_COMMAND_OK && status != PGRES_COPY_OUT && status != PGRES_COPY_BOTH {
                    throw .postgres(serverError(from: result))
                }
            }
            return .ended
        }
        throw .postgres(connectionError())
    }

    /// Reads whatever arrived on the socket into libpq's buffer.
    func consumeInput() throws(PostgresError) {
        guard PQconsumeInput(handle) == 1 else { throw connectionError() }
    }

    /// Queues one CopyData message to the server and tries to send it, never
    /// blocking (the connection is non-blocking in CopyBoth mode). Returns false
    /// when libpq's output buffer is full of what a stalled socket would not
    /// take: the message was not queued.
    @discardableResult
    func sendCopyData(_ bytes: [UInt8]) throws(PostgresError) -> Bool {
        let status = bytes.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { chars in
                PQputCopyData(handle, chars.baseAddress, Int32(chars.count))
            }
        }
        guard status >= 0 else { throw connectionError() }
        _ = try flush()
        return status == 1
    }

    /// Tries to send what libpq has queued. Returns true when everything was sent.
    @discardableResult
    func flush() throws(PostgresError) -> Bool {
        switch PQflush(handle) {
        case 0: return true
        case 1: return false
        default: throw connectionError()
        }
    }

    /// Waits until the socket is readable (or writable, when `wantWrite`), or the
    /// timeout passes. Returns true when it is ready. Retries on EINTR.
    func waitForSocket(timeoutMilliseconds: Int32, wantWrite: Bool) throws(PostgresError) -> Bool {
        let socket = PQsocket(handle)
        guard socket >= 0 else {
            throw PostgresError(kind: .unreachable, message: "the connection to Postgres is closed")
        }
        var events = Int16(POLLIN)
        if wantWrite { events |= Int16(POLLOUT) }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        while true {
            let ready = poll(&descriptor, 1, timeoutMilliseconds)
            if ready >= 0 { return ready > 0 }
            if errno == EINTR { continue }
            throw PostgresError(kind: .unreachable, message: "poll() on the Postgres socket failed: errno \(errno)")
        }
    }

    // MARK: - Errors

    /// The error of a lost connection. The connection keeps the verbose error
    /// verbosity it was opened with, so a FATAL that ended it (57P01 admin
    /// shutdown, …) carries its SQLSTATE; the kind stays `.unreachable`: reconnect.
    private func connectionError() -> PostgresError {
        let text = VerboseErrorText(String(cString: PQerrorMessage(handle)))
        return PostgresError(
            kind: .unreachable, sqlState: text.sqlState,
            message: text.message.isEmpty ? "the connection to Postgres was lost" : text.message)
    }

    private func serverError(from result: OpaquePointer) -> PostgresError {
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        var message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? VerboseErrorText(String(cString: PQresultErrorMessage(result))).message
        if message.isEmpty { message = VerboseErrorText(String(cString: PQerrorMessage(handle))).message }
        if let hint = PQresultErrorField(result, Int32(UInt8(ascii: "H"))).map({ String(cString: $0) }) {
            message += " (hint: \(hint))"
        }
        if sqlState == nil && PQstatus(handle) != CONNECTION_OK {
            return PostgresError(kind: .unreachable, message: message)
        }
        return PostgresError.fromServer(sqlState: sqlState, message: message)
    }
}

/// An error while reading the stream: from Postgres, or from the code handling a message.
enum StreamReadError<HandlerError: Error>: Error {
    case postgres(PostgresError)
    case handler(HandlerError)
}

/// The rows of a query, copied out of libpq as text (NULL is nil).
public struct QueryResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]

    init(copying result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        rows = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1
                    ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            }
        }
    }

    /// The value at `row` of the column called `name`, or nil (also for NULL).
    public func value(_ row: Int, _ name: String) -> String? {
        guard row < rows.count, let index = columns.firstIndex(of: name) else { return nil }
        return rows[row][index]
    }
}

/// The rows of one statement, left in libpq's result and read value by value
/// as text, with each column's name and type OID. Frees the result when released.
public final class RowSet {
    private let result: OpaquePointer
    public let rowCount: Int
    public let columnNames: [String]
    public let columnTypes: [UInt32]

    init(owning result: OpaquePointer) {
        self.result = result
        rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        columnNames = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        columnTypes = (0..<columnCount).map { UInt32(PQftype(result, Int32($0))) }
    }

    deinit { PQclear(result) }

    /// The text of the value at (`row`, `column`), or nil for SQL NULL.
    public func text(_ row: Int, _ column: Int) -> String? {
        PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// The value at (`row`, `column`) decoded as its column's type, straight
    /// from libpq's buffer (no intermediate `String`); `.null` for SQL NULL.
    public func value(_ row: Int, _ column: Int, decoder: PostgresValueDecoder, registry: TypeRegistry) throws(ValueDecodingError) -> PostgresValue {
        let r = Int32(row), c = Int32(column)
        guard PQgetisnull(result, r, c) == 0, let start = PQgetvalue(result, r, c) else { return .null }
        let bytes = UnsafeRawBufferPointer(start: start, count: Int(PQgetlength(result, r, c)))
        return try decoder.decode(bytes, typeOID: columnTypes[column], registry: registry)
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicates.map { $0.map { UnsafePointer($0) } }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Like `withCStringArray`, for parameters where nil means SQL NULL.
private func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let duplicates = strings.map { $0.flatMap { strdup($0) } }
    defer { duplicates.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = duplicates.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
