#if canImport(Glibc)
import Glibc
#endif

/// What the stream hands to its consumer.
public enum ReplicationEvent: Sendable {
    /// A pgoutput message, from the XLogData whose WAL start is `walStart`.
    case message(PgOutputMessage, walStart: LSN)
    /// A keepalive: the walsender has sent everything up to `walEnd`.
    case keepalive(walEnd: LSN)
}

/// An error while streaming: from Postgres, from decoding the bytes it sent, or
/// from the consumer's handler.
public enum ReplicationStreamError<HandlerError: Error>: Error {
    case postgres(PostgresError)
    case decoding(PgOutputDecodingError)
    case handler(HandlerError)
    /// The server ended the stream (for example the slot was dropped).
    case ended
}

/// What `ReplicationStream.readEvents` throws: `ReplicationStreamError` without the handler's case.
@usableFromInline
enum ReplicationReadError: Error {
    case postgres(PostgresError)
    case decoding(PgOutputDecodingError)
    case ended
}

/// The logical replication stream of one slot: `START_REPLICATION` in CopyBoth
/// mode, reading XLogData and keepalives without blocking, answering keepalives
/// that ask for a reply, and sending standby status updates with the position
/// the consumer confirmed.
///
/// It never blocks on a slow consumer: the consumer decides how much to read
/// (`read(limit:waitMilliseconds:_:)`) and calls `sendStatusIfDue()` whenever
/// it is not reading, so `wal_sender_timeout` never cuts a paused stream.
/// Used from one thread; not `Sendable`.
public final class ReplicationStream {
    /// The pgoutput `proto_version` this session asks for, on every Postgres
    /// version (docs/delivery.md, "The promises": messages of protocols 2 to 4 are tolerated, not asked for).
    public static let protocolVersion = 1

    private let connection: PostgresConnection
    private let decoder: PgOutputDecoder
    /// Between a Stream Start and its Stream Stop: the messages in between carry
    /// an xid. Never set by a session that asked for protocol 1, unless the
    /// server sends a stream it was not asked for.
    private var inStreamBlock = false
    private let clock = ContinuousClock()

    /// The highest WAL end the server reported (XLogData or keepalive).
    public private(set) var serverWALEnd: LSN
    /// The highest WAL position received in XLogData.
    public private(set) var receivedLSN: LSN
    /// What the consumer confirmed: reported to Postgres as flushed and applied.
    public private(set) var confirmedLSN: LSN
    /// The flush position last sent to Postgres.
    public private(set) var reportedLSN: LSN
    /// CopyData bytes received so far.
    public private(set) var bytesReceived: UInt64 = 0
    /// When to send status updates and when to give the connection up (pure
    /// rules, fed with `clock.now`).
    private var schedule: StatusSchedule
    /// Status updates are sent at least this often.
    public var statusInterval: Duration {
        get { schedule.statusInterval }
        set { schedule.statusInterval = newValue }
    }
    /// A newly confirmed position is reported at most this long after it
    /// advances (a status update is one small send; while the watermark moves
    /// that is at most 200 a second).
    public var confirmDelay: Duration {
        get { schedule.confirmDelay }
        set { schedule.confirmDelay = newValue }
    }

    /// How long the walsender may stay silent (and what we queued stay unsent)
    /// before the connection is taken as dead: `deadBound(walSenderTimeout:)` of
    /// the server's `wal_sender_timeout`. Halfway through a silence the stream
    /// sends a status update that asks for a reply, which the walsender answers
    /// at once, so an idle but healthy stream is never taken as dead.
    public var deadAfter: Duration {
        get { schedule.deadAfter }
        set { schedule.deadAfter = newValue }
    }
    /// The server's `wal_sender_timeout` (nil when it could not be read).
    public private(set) var walSenderTimeout: Duration?

    /// Starts streaming.
    ///
    /// - Parameters:
    ///   - connection: a `replication=database` connection; the stream owns it from now on.
    ///   - slot: the logical slot (pgoutput).
    ///   - publications: publication names for pgoutput.
    ///   - startLSN: where to start; `0/0` starts at the slot's confirmed position.
    ///     Postgres silently starts at the slot's position when `startLSN` is older.
    ///   - confirmedLSN: the flush position to report until the consumer confirms
    ///     more: the slot's own `confirmed_flush_lsn`, so starting never moves the
    ///     slot by itself (a replay window or a replay may need the WAL before `startLSN`).
    ///   - logicalMessages: ask pgoutput for `pg_logical_emit_message` messages.
    ///   - statusInterval: how often to send status updates when nothing else triggers one.
    public convenience init(
        connection: PostgresConnection, slot: String, publications: [String], startLSN: LSN, confirmedLSN: LSN,
        logicalMessages: Bool = false, statusInterval: Duration = .seconds(10)
    ) throws(PostgresError) {
        try self.init(connection: connection, slot: slot, publications: publications, startLSN: startLSN,
                      confirmedLSN: confirmedLSN, logicalMessages: logicalMessages, statusInterval: statusInterval,
                      protocolVersion: Self.protocolVersion, streaming: nil)
    }

    /// Starts streaming with another protocol version, for tests of what
    /// Postgres sends to such sessions: `streaming` is sent as pgoutput's
    /// `streaming` option ("on", or "parallel" with protocol 4) when not nil.
    init(
        connection: PostgresConnection, slot: String, publications: [String], startLSN: LSN, confirmedLSN: LSN,
        logicalMessages: Bool, statusInterval: Duration, protocolVersion: Int, streaming: String?
    ) throws(PostgresError) {
        self.connection = connection
        self.decoder = PgOutputDecoder(protocolVersion: protocolVersion, parallelStreaming: streaming == "parallel")
        self.serverWALEnd = startLSN
        self.receivedLSN = confirmedLSN
        self.confirmedLSN = confirmedLSN
        self.reportedLSN = confirmedLSN
        let timeout = Self.walSenderTimeout(of: connection)
        self.walSenderTimeout = timeout
        self.schedule = StatusSchedule(statusInterval: statusInterval, deadAfter: Self.deadBound(walSenderTimeout: timeout), now: clock.now)
        let names = publications.map { connection.quoteIdentifier($0) }.joined(separator: ",")
        var options = "proto_version '\(protocolVersion)', publication_names \(connection.quoteLiteral(names))"
        if logicalMessages { options += ", messages 'true'" }
        if let streaming { options += ", streaming \(connection.quoteLiteral(streaming))" }
        let command = "START_REPLICATION SLOT \(connection.quoteIdentifier(slot)) LOGICAL \(startLSN) (\(options))"
        try connection.startCopyBoth(command)
        schedule.messageReceived(now: clock.now)  // silence counts from the start of streaming
    }

    /// The silence after which a stream is taken as dead: twice the server's
    /// `wal_sender_timeout`, at least 10 s; 120 s when the timeout is off (0) or unknown.
    public static func deadBound(walSenderTimeout: Duration?) -> Duration {
        guard let walSenderTimeout, walSenderTimeout > .zero else { return .seconds(120) }
        return max(walSenderTimeout * 2, .seconds(10))
    }

    /// This session's `wal_sender_timeout` (a per-connection `options=-c wal_sender_timeout=…` counts).
    private static func walSenderTimeout(of connection: PostgresConnection) -> Duration? {
        guard let result = try? connection.query("SELECT setting FROM pg_settings WHERE name = 'wal_sender_timeout'"),
              let text = result.rows.first?.first.flatMap({ $0 }), let milliseconds = Int64(text)
        else { return nil }
        return .milliseconds(milliseconds)
    }

    /// The connection's backend process id (the walsender).
    public var walsenderPID: Int32 { connection.backendPID }

    /// Records that everything up to `lsn` is durably handled; it is reported to
    /// Postgres within `confirmDelay`. Positions never move backwards.
    public func confirm(_ lsn: LSN) {
        guard lsn > confirmedLSN else { return }
        confirmedLSN = lsn
        schedule.confirmed(now: clock.now)
    }

    /// Reads the messages that have arrived, at most `limit`, waiting up to
    /// `waitMilliseconds` for the first one. Each is decoded in place from
    /// libpq's buffer and handed to `handler`. Sends a status update when one is due.
    ///
    /// Inlinable, and only a shell around the non-generic `readEvents`: the
    /// caller's module specialises it for its handler's error type, so no
    /// generic code runs per message.
    ///
    /// - Returns: how many messages were handled (keepalives included).
    @inlinable
    @discardableResult
    public func read<E: Error>(
        limit: Int, waitMilliseconds: Int32, _ handler: (ReplicationEvent) throws(E) -> Void
    ) throws(ReplicationStreamError<E>) -> Int {
        var failure: E? = nil
        let handled: Int
        do throws(ReplicationReadError) {
            handled = try readEvents(limit: limit, waitMilliseconds: waitMilliseconds) { (event: ReplicationEvent) -> Bool in
                do throws(E) {
                    try handler(event)
                    return true
                } catch {
                    failure = error
                    return false
                }
            }
        } catch {
            switch error {
            case .postgres(let failure): throw .postgres(failure)
            case .decoding(let failure): throw .decoding(failure)
            case .ended: throw .ended
            }
        }
        if let failure { throw .handler(failure) }
        return handled
    }

    /// `read`'s loop. `handler` returns false when it failed: reading stops at once.
    @usableFromInline
    func readEvents(
        limit: Int, waitMilliseconds: Int32, _ handler: (ReplicationEvent) -> Bool
    ) throws(ReplicationReadError) -> Int {
        var handled = 0
        var waited = false
        var stopped = false
        schedule.readStarted(now: clock.now)
        defer { schedule.readEnded(now: clock.now) }
        while handled < limit {
            let outcome: PostgresConnection.CopyRead
            do {
                outcome = try connection.readCopyData { (bytes: UnsafeRawBufferPointer) throws(ReplicationReadError) in
                    stopped = !(try self.dispatch(bytes, handler))
                }
            } catch {
                switch error {
                case .postgres(let failure): throw .postgres(failure)
                case .handler(let failure): throw failure
                }
            }
            switch outcome {
            case .message:
                if stopped { return handled }
                handled += 1
            case .ended:
                throw .ended
            case .wouldBlock:
                if waited || handled > 0 {
                    try checkAlive()
                    try statusIfDue()
                    return handled
                }
                waited = true
                do {
                    let timeout = min(waitMilliseconds, millisecondsUntilStatusDue())
                    if try connection.waitForSocket(timeoutMilliseconds: timeout, wantWrite: false) {
                        try connection.consumeInput()
                    }
                } catch {
                    throw .postgres(error)
                }
            }
        }
        try statusIfDue()
        return handled
    }

    /// Sends a standby status update if one is due: the server asked for one,
    /// the confirmed position advanced more than `confirmDelay` ago, or
    /// `statusInterval` passed since the last one.
    ///
    /// Never blocks: on a stalled socket the update stays in libpq's buffer (or,
    /// when that is full, is skipped: the next one carries newer positions).
    /// Throws `.unreachable` when what was queued could not be sent for `deadAfter`.
    public func sendStatusIfDue() throws(PostgresError) {
        let now = clock.now
        if schedule.isStatusDue(now: now) {
            try sendStatus(replyRequested: false)
        }
        // Keep sending what libpq could not send yet.
        if case .stalled(let unsentFor) = schedule.flushed(try connection.flush(), now: now) {
            throw PostgresError(kind: .unreachable, message: "could not send to the walsender for \(Self.seconds(unsentFor)) s (limit \(Self.seconds(deadAfter)) s, twice wal_sender_timeout): the network path to Postgres is stalled; the connection is taken as dead")
        }
    }

    /// Throws `.unreachable` when the walsender sent nothing for `deadAfter`;
    /// asks it for a reply when it has been silent for half of that.
    private func checkAlive() throws(ReplicationReadError) {
        switch schedule.liveness(now: clock.now) {
        case .alive:
            break
        case .ping:
            do { try sendStatus(replyRequested: true) } catch { throw .postgres(error) }
        case .dead(let silence):
            throw .postgres(PostgresError(kind: .unreachable, message: "no message from the walsender for \(Self.seconds(silence)) s (limit \(Self.seconds(deadAfter)) s, twice wal_sender_timeout): the network path to Postgres is stalled or the server is gone; the connection is taken as dead"))
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        let components = duration.components
        let tenths = components.seconds * 10 + components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Sends a standby status update now.
    public func sendStatus(replyRequested: Bool) throws(PostgresError) {
        let update = StandbyStatusUpdate(
            written: max(receivedLSN, confirmedLSN), flushed: confirmedLSN, applied: confirmedLSN,
            clockMicros: Self.unixMicrosNow(), replyRequested: replyRequested)
        guard try connection.sendCopyData(update.encoded()) else {
            // libpq's buffer is full of what a stalled socket would not take:
            // skip this one (not retried every millisecond); the next carries newer positions.
            schedule.statusSent(now: clock.now, reported: false)
            return
        }
        reportedLSN = confirmedLSN
        schedule.statusSent(now: clock.now, reported: true)
    }

    /// Milliseconds until a status update is due (at least 1), for poll timeouts.
    public func millisecondsUntilStatusDue() -> Int32 {
        schedule.millisecondsUntilDue(now: clock.now)
    }

    private func statusIfDue() throws(ReplicationReadError) {
        do { try sendStatusIfDue() } catch { throw .postgres(error) }
    }

    /// Decodes one CopyData message and hands it to `handler`; false when the handler failed.
    private func dispatch(
        _ bytes: UnsafeRawBufferPointer, _ handler: (ReplicationEvent) -> Bool
    ) throws(ReplicationReadError) -> Bool {
        bytesReceived &+= UInt64(bytes.count)
        schedule.messageReceived(now: clock.now)
        let message: ReplicationMessage
        do { message = try ReplicationMessage.decode(bytes) } catch { throw .decoding(error) }
        switch message {
        case .xLogData(let walStart, let walEnd, _, let payloadOffset):
            let decoded: PgOutputMessage
            do {
                decoded = try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[payloadOffset...]),
                                             inStreamBlock: inStreamBlock)
            } catch {
                throw .decoding(error)
            }
            switch decoded {
            case .streamStart: inStreamBlock = true
            case .streamStop: inStreamBlock = false
            default: break
            }
            if walStart > receivedLSN { receivedLSN = walStart }
            if walEnd > serverWALEnd { serverWALEnd = walEnd }
            return handler(.message(decoded, walStart: walStart))
        case .keepalive(let walEnd, _, let reply):
            if walEnd > serverWALEnd { serverWALEnd = walEnd }
            guard handler(.keepalive(walEnd: walEnd)) else { return false }
            if reply { schedule.replyAsked() }
            return true
        }
    }

    /// The wall clock in Unix microseconds.
    public static func unixMicrosNow() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}
