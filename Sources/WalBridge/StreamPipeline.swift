import Configuration
import Foundation
import EventMapping
import KafkaPublisher
import Logging
import PostgresReplication

/// Limits and timings of the pipeline, with production defaults. Tests shorten them.
public struct PipelineTuning: Sendable {
    /// Events handed to Kafka and not yet acknowledged, at most (backpressure).
    public var maxInflightEvents = 100_000
    /// Bytes librdkafka may queue, at most (`queue.buffering.max.kbytes`).
    public var maxInflightKilobytes = 65_536
    /// pgoutput messages handled per read before serving delivery reports.
    public var readBatch = 2_000
    /// How often the checkpoint file is written while the watermark moves. The
    /// slot is confirmed only up to the checkpoint file, so this also bounds how
    /// late a new flush position reaches Postgres (docs/delivery.md: within about 100 ms).
    public var checkpointInterval: Duration = .milliseconds(100)
    /// How often a status update is sent when nothing else triggers one.
    public var statusInterval: Duration = .seconds(10)
    /// How long a connection must have streamed before backoff starts over.
    public var healthyAfter: Duration = .seconds(30)
    /// The first and the largest pause between reconnection attempts.
    public var initialBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(30)
    /// Sessions in a row that may end with a corrupt replication stream,
    /// without delivering anything new, before the bridge stops (exit 1).
    public var corruptStreamAttempts = 5

    public init() {}
}

/// How a session treats the backfill beyond the job in the checkpoint.
struct SnapshotRunOptions: Sendable {
    /// Return from the loop once the job is fully delivered (`walbridge snapshot`).
    var stopWhenDone = false
    /// Called on the pipeline thread about once a second with the progress, and once at the end.
    var onProgress: (@Sendable (SnapshotProgress, _ final: Bool) -> Void)?
}

/// Why the pipeline loop returned.
enum PipelineExit {
    /// A stop was requested; the loop stopped reading.
    case stopRequested
    /// The session's snapshot job is fully delivered and the bridge was asked
    /// to stop then (`walbridge snapshot`).
    case snapshotFinished
}

/// The streaming loop of one replication session, on one thread: the shell
/// around `DeliveryCore`. It reads pgoutput messages when the core says so,
/// assembles them into typed changes, maps them to events and hands them to
/// Kafka under the core's tokens, feeds the core delivery reports and the
/// time, and performs what it returns: checkpoint writes, slot confirmations,
/// status updates, pauses. Every delivery decision is the core's.
///
/// Never calls back into the stream from inside its read callback: when
/// Kafka's queue is full, the records it refused wait in `backlog` (in order)
/// and the read stops after the message at hand.
///
/// Owns nothing across sessions: the `Bridge` builds one per connection.
final class StreamPipeline<Source: ReplicationSource, Sink: RecordSink> {
    private let stream: Source
    private let producer: Sink
    private let mapper: EventMapper
    private let checkpoints: CheckpointWriter
    private let tuning: PipelineTuning
    private let stop: StopSignal
    private var logger: Logger
    private let metrics: BridgeMetrics

    private var assembler: TransactionAssembler
    private var core: DeliveryCore
    /// Records Kafka's full queue refused, oldest first, with their tokens
    /// (already counted by the core): handed over before anything is read.
    private var backlog = FIFOArray<Pending>(compactAfter: 1024)
    private var reports: [DeliveryReport] = []
    private var caughtUpLogged = false
    private let deadLetters: DeadLetters?
    /// `schema.table` (or message prefix) of the events being produced, for the counters.
    private var currentTable = ""
    /// The relation `currentTable` was made for (0: not from a relation).
    private var currentTableRelation: UInt32 = 0
    private var labels = PublishedLabels()
    private var headers: [KafkaHeader] = []
    private var reportedBytesRead: UInt64 = 0
    private let clock = ContinuousClock()
    private let startInstant = ContinuousClock().now
    /// The backfill's side of the pipeline (records keys even with no job running: then it has none to record).
    private let snapshotSession: SnapshotSession
    private var snapshot: SnapshotCoordinator { snapshotSession.coordinator }
    private let snapshotOptions: SnapshotRunOptions
    private var currentXid: UInt32 = 0
    private var lastProgressReport = ContinuousClock().now
    private var lastProgressLog = ContinuousClock().now

    private struct Pending {
        var record: EventRecord
        var token: DeliveryToken
    }

    /// Why a read stopped early.
    private enum ReadInterruption: Error {
        case failed(BridgeError)
        /// Kafka's queue is full: stop reading after this message.
        case queueFull
    }

    /// - Parameters:
    ///   - start: where the stream starts (the delivered position at first).
    ///   - skipBelow: transactions whose commit LSN is below it were delivered before.
    ///   - checkpointed: what the checkpoint file holds now.
    init(
        stream: Source, producer: Sink, mapper: EventMapper, start: LSN, skipBelow: LSN, checkpointed: LSN,
        checkpoints: CheckpointWriter, replayWindow: Duration, deadLetters: DeadLetters?, valueDecoder: PostgresValueDecoder,
        snapshot: SnapshotSession, snapshotOptions: SnapshotRunOptions,
        tuning: PipelineTuning, stop: StopSignal, logger: Logger, metrics: BridgeMetrics
    ) {
        self.snapshotSession = snapshot
        self.snapshotOptions = snapshotOptions
        self.assembler = TransactionAssembler(valueDecoder: valueDecoder, logger: logger)
        self.deadLetters = deadLetters
        self.stream = stream
        self.producer = producer
        self.mapper = mapper
        var settings = DeliveryCore.Settings(start: start, skipBelow: skipBelow, checkpointed: checkpointed)
        settings.replayWindow = replayWindow
        settings.checkpointInterval = tuning.checkpointInterval
        settings.maxInflightEvents = tuning.maxInflightEvents
        settings.deadLetters = deadLetters != nil
        self.core = DeliveryCore(settings, now: 0)
        self.checkpoints = checkpoints
        self.tuning = tuning
        self.stop = stop
        self.logger = logger
        self.metrics = metrics
        reports.reserveCapacity(4096)
    }

    /// Streams until a stop is requested or something fails.
    func run() throws(BridgeError) -> PipelineExit {
        while !stop.isRequested {
            try serveDeliveryReports(waitMilliseconds: 0)
            try flushBacklog()
            switch core.readDecision {
            case .read(let wait):
                try read(waitMilliseconds: wait)
            case .pause:
                // Backpressure: stop reading; the round below keeps the walsender's timeout at bay.
                try serveDeliveryReports(waitMilliseconds: 10)
            }
            _ = try performRound(draining: false)
            reportLoopMetrics()
            if let failure = snapshot.channel.readerFailure { throw failure }
            if !snapshotOptions.stopWhenDone && snapshotSession.pollRequests() {
                // The requested job is in the checkpoint before its request file goes.
                core.forceCheckpoint()
                _ = try performRound(draining: false)
                snapshotSession.requestRecorded()
            }
            if snapshot.hadJob { reportSnapshotProgress(final: false) }
            if snapshot.jobFinished && snapshotOptions.stopWhenDone {
                reportSnapshotProgress(final: true)
                return .snapshotFinished
            }
        }
        return .stopRequested
    }

    /// After a stop: waits up to `timeout` for outstanding deliveries (handing
    /// over what Kafka's queue refused), then checkpoints and reports the
    /// watermark. Returns the final watermark.
    func drain(timeout: Duration) throws(BridgeError) -> LSN {
        core.stop(now: nanosecondsSinceStart(), timeout: timeout)
        while true {
            try serveDeliveryReports(waitMilliseconds: core.outstandingEvents > 0 ? 50 : 0)
            try flushBacklog()
            reportLoopMetrics()
            if try performRound(draining: true) { break }
        }
        if core.outstandingEvents > 0 {
            logger.warning("shutdown timeout passed with events not acknowledged; they will be published again on the next start", metadata: [
                "outstanding": "\(core.outstandingEvents)"])
        }
        try? stream.sendStatus(replyRequested: false)
        return core.delivered
    }

    /// After a failure: writes the checkpoint with what was delivered, when
    /// that is ahead of the file (never moves it back).
    func checkpointDelivered() throws(BridgeError) {
        let state = deliveredSnapshot()
        guard core.delivered > core.checkpointed || (state != checkpoints.writtenSnapshot && core.delivered >= core.checkpointed) else { return }
        try checkpoints.write(core.delivered, snapshot: state)
    }

    /// The watermark to resume from after this session.
    var delivered: LSN { core.delivered }
    /// Events handed to Kafka and not yet acknowledged.
    var outstandingEvents: Int { core.outstandingEvents }

    // MARK: - Reading

    private func read(waitMilliseconds: Int32) throws(BridgeError) {
        do throws(ReplicationStreamError<ReadInterruption>) {
            try stream.read(limit: tuning.readBatch, waitMilliseconds: waitMilliseconds) { (event: ReplicationEvent) throws(ReadInterruption) in
                do throws(BridgeError) { try self.handle(event) } catch { throw .failed(error) }
                if self.core.sinkFull { throw .queueFull }
            }
        } catch {
            switch error {
            case .handler(.queueFull): return
            case .handler(.failed(let failure)): throw failure
            case .postgres(let failure): throw BridgeError(failure, context: "replication stream")
            case .decoding(let failure): throw .corruptStream("cannot decode the replication stream: \(failure)")
            case .ended: throw BridgeError(code: .streamEnded, kind: .transient, message: "Postgres ended the replication stream")
            }
        }
    }

    private func handle(_ event: ReplicationEvent) throws(BridgeError) {
        switch event {
        case .keepalive(let walEnd):
            if !caughtUpLogged && core.isIdle {
                caughtUpLogged = true
                logger.info("caught up; streaming", metadata: ["lsn": "\(walEnd)"])
            }
            core.keepalive(walEnd: walEnd)
        case .message(let message, _):
            let item: AssembledItem?
            do {
                item = try assembler.process(message)
            } catch {
                try undecodableChange(error)
                return
            }
            if let item { try handle(item) }
        }
    }

    private func handle(_ item: AssembledItem) throws(BridgeError) {
        switch item {
        case .begin(let info):
            currentXid = info.xid
            _ = core.begin(info)
        case .change(let change):
            snapshot.record(xid: currentXid, change: change, mapper: mapper)
            guard let transaction = core.transaction else { return }
            if change.relation.id != currentTableRelation || currentTableRelation == 0 {
                currentTable = change.relation.schema + "." + change.relation.name
                currentTableRelation = change.relation.id
            }
            let records: [EventRecord]
            do {
                records = try mapper.map(change, transaction: transaction) { metrics.updateNotPublished(table: currentTable, $0) }
            } catch {
                try unmappableChange(change, transaction: transaction, error: error)
                return
            }
            try produce(records)
        case .truncate(let relations, let cascade, let restartIdentity, let ordinal):
            guard let transaction = core.transaction else { return }
            let outcome = mapper.mapTruncate(relations: relations, cascade: cascade, restartIdentity: restartIdentity,
                                             ordinal: ordinal, transaction: transaction)
            if !outcome.skipped.isEmpty {
                logger.info("TRUNCATE not published (mapping has truncate: skip, or is an outbox)", metadata: [
                    "tables": "\(outcome.skipped.map(\.description))", "lsn": "\(transaction.commitLSN)"])
            }
            try produce(outcome.records)
        case .message(let message, let transactionOrdinal):
            try handle(message, transactionOrdinal: transactionOrdinal)
        case .commit(_, let endLSN):
            switch core.commit(endLSN: endLSN) {
            case .skipped(let endedAfterResume):
                if endedAfterResume {
                    logger.error("skipped a transaction that ends after the resume point", metadata: [
                        "endLSN": "\(endLSN)", "resume": "\(core.skipBelow)"])
                }
            case .published(let transaction, let settled):
                if let transaction { metrics.transactionCommitted(commitTimeMicros: transaction.commitTimeMicros) }
                snapshot.committed(endLSN: endLSN)
                if let settled { published(settled) }
            }
        case .relationChanged(let relation):
            currentTableRelation = 0  // a renamed table keeps its id: make its name again
            logger.debug("relation described", metadata: [
                "table": "\(relation.schema).\(relation.name)", "columns": "\(relation.columns.count)"])
            let missing = mapper.missingMappedColumns(in: relation)
            if !missing.isEmpty {
                logger.warning("mapped column(s) are gone from the table (dropped or renamed): their fields are left out of events and listed in unavailableFields; update the mapping's fields and restart", metadata: [
                    "table": "\(relation.schema).\(relation.name)", "columns": "\(missing)"])
            }
        }
    }

    /// A logical-decoding message (`pg_logical_emit_message`). A transactional
    /// one belongs to the open transaction; a non-transactional one is its own
    /// unit of delivery, confirmed at its LSN once Kafka has it.
    private func handle(_ message: LogicalMessage, transactionOrdinal: Int?) throws(BridgeError) {
        if message.transactional {
            guard let transaction = core.transaction else { return }
            if message.prefix == SnapshotWatermark.prefix {
                try snapshotWatermark(message, transaction: transaction)
                return
            }
            setCurrentTable(message.prefix)
            try produce(mapMessage(message, transactionOrdinal: transactionOrdinal, transaction: transaction))
            return
        }
        guard message.lsn >= core.skipBelow else { return }
        let records = try mapMessage(message, transactionOrdinal: nil, transaction: nil)
        _ = core.beginMessage(lsn: message.lsn)
        setCurrentTable(message.prefix)
        try produce(records)
        if case .published(_, let settled?) = core.commit(endLSN: message.lsn) { published(settled) }
    }

    /// A backfill watermark: at a high mark of this session's reader, publish
    /// its chunk in this transaction (DBLog; see `SnapshotCoordinator`).
    private func snapshotWatermark(_ message: LogicalMessage, transaction: TransactionInfo) throws(BridgeError) {
        guard let watermark = SnapshotWatermark(content: message.content),
              let outcome = snapshot.highWatermark(watermark, transaction: transaction, mapper: mapper)
        else { return }
        if outcome.dropped > 0 {
            logger.debug("snapshot chunk: rows changed while it was read are left to the stream", metadata: [
                "dropped": "\(outcome.dropped)", "lsn": "\(transaction.commitLSN)"])
            metrics.snapshotRowsDropped(outcome.dropped)
        }
        setCurrentTable(snapshot.lastChunkTable)
        try produce(outcome.records)
        try deadLetterSnapshotRows(outcome, transaction: transaction)
    }

    /// Backfill progress: the metrics each second, a log line every 10 s, and
    /// the caller's progress line (`walbridge snapshot` on a terminal).
    private func reportSnapshotProgress(final: Bool) {
        let now = clock.now
        guard final || now - lastProgressReport >= .seconds(1), let progress = snapshot.progress else { return }
        lastProgressReport = now
        metrics.snapshot(progress)
        snapshotOptions.onProgress?(progress, final)
        if final || now - lastProgressLog >= .seconds(10) {
            lastProgressLog = now
            logger.info(final ? "snapshot finished" : "snapshot progress", metadata: [
                "rows": "\(progress.rowsDone)", "estimated": "\(progress.estimatedRows)",
                "rowsPerSecond": "\(Int(progress.rowsPerSecond))", "progress": "\(progress.line)"])
        }
    }

    /// Adopts the backfill progress the watermark has passed and returns it
    /// (for the checkpoint after the loop ends, normally or not).
    func deliveredSnapshot() -> SnapshotState {
        _ = snapshot.confirm(upTo: core.delivered)
        return snapshot.confirmed
    }

    private func mapMessage(_ message: LogicalMessage, transactionOrdinal: Int?, transaction: TransactionInfo?) throws(BridgeError) -> [EventRecord] {
        do {
            return try mapper.map(message, transactionOrdinal: transactionOrdinal, transaction: transaction,
                                  sentAtMicros: ReplicationStream.unixMicrosNow())
        } catch {
            throw BridgeError(code: .mappingFailed, .mapping(error),
                              message: "cannot map a logical message with prefix '\(message.prefix)' at \(message.lsn): \(error)")
        }
    }

    // MARK: - Kafka

    private func produce(_ records: [EventRecord]) throws(BridgeError) {
        for record in records { try produce(record) }
    }

    /// Counts one record of the open unit with the core and hands it to Kafka.
    private func produce(_ record: EventRecord) throws(BridgeError) {
        let label = labels.index(table: currentTable, eventType: record.eventType)
        // Records are made only while a unit is open (a change, a chunk or a
        // dead letter of an open transaction, or a non-transactional message).
        guard let token = core.token(label: label) else { preconditionFailure("a record outside an open unit of delivery") }
        // The clock is read for a unit's first record only.
        core.enqueued(token, bytes: (record.key?.count ?? 0) + (record.value?.count ?? 0), now: self.nanosecondsSinceStart())
        try hand(record, token: token)
    }

    /// Hands a counted record to Kafka, or queues it behind those a full queue refused.
    private func hand(_ record: EventRecord, token: DeliveryToken) throws(BridgeError) {
        if core.sinkFull {
            backlog.append(Pending(record: record, token: token))
        } else if let refused = try send(record, token: token) {
            core.sinkRefused()
            backlog.append(Pending(record: refused, token: token))
        }
    }

    /// Hands the records a full queue refused to Kafka, in order, until it is full again.
    private func flushBacklog() throws(BridgeError) {
        while let next = backlog.first {
            if let refused = try send(next.record, token: next.token) {
                backlog[0].record = refused
                return
            }
            backlog.removeFirst()
        }
        if core.sinkFull { core.sinkAccepting() }
    }

    /// Produces `record` under `token`, or its dead letter when Kafka refuses
    /// it for good. Returns the record Kafka's full queue refused (nil: handed over).
    private func send(_ record: EventRecord, token: DeliveryToken) throws(BridgeError) -> EventRecord? {
        headers.removeAll(keepingCapacity: true)
        for header in record.headers { headers.append(KafkaHeader(name: header.name, value: header.value)) }
        do {
            try producer.produce(topic: record.topic, key: record.key, value: record.value, headers: headers, token: token.rawValue)
            return nil
        } catch {
            // (`catch where` with typed throws crashes swiftc 6.3.1 in -O builds.)
            if error.isQueueFull { return record }
            let isDeadLetter = deadLetters.map { record.topic == $0.topic } ?? false
            if let deadLetters, core.failed(token, permanent: error.isPermanent, isDeadLetter: isDeadLetter) == .deadLetter {
                let reason = Self.deadLetterReason(error, size: (record.key?.count ?? 0) + (record.value?.count ?? 0))
                let letter = deadLetters.record(forOversizedEvent: record.value, key: record.key, sourceTopic: record.topic, reason: reason)
                logDeadLetter(letter, eventID: record.eventID, reason: reason)
                return try send(letter, token: token)
            }
            // A fatal producer error rebuilds the producer and resumes from the checkpoint.
            throw BridgeError(code: .kafkaRejected, .kafka(error), message:
                "cannot publish event \(record.eventID) to topic '\(record.topic)': \(error)"
                    + (error.isPermanent ? " (set kafka.dead_letter_topic to route such records there and go on)" : ""))
        }
    }

    private func serveDeliveryReports(waitMilliseconds: Int32) throws(BridgeError) {
        reports.removeAll(keepingCapacity: true)
        _ = producer.poll(timeoutMilliseconds: waitMilliseconds, into: &reports)
        for report in reports {
            let token = DeliveryToken(rawValue: report.token)
            guard let error = report.error else {
                if let settled = core.acknowledged(token) { published(settled) }
                continue
            }
            if let deadLetters, let failed = report.failedRecord,
               core.failed(token, permanent: error.isPermanent, isDeadLetter: failed.topic == deadLetters.topic) == .deadLetter {
                let reason = Self.deadLetterReason(error, size: (failed.key?.count ?? 0) + (failed.value?.count ?? 0))
                let record = error.code == .messageSizeTooLarge || error.code == .recordListTooLarge
                    ? deadLetters.record(forOversizedEvent: failed.value, key: failed.key, sourceTopic: failed.topic, reason: reason)
                    : deadLetters.record(forRejectedEvent: failed, reason: reason)
                try hand(record, token: token)
                logDeadLetter(record, eventID: "", reason: reason)
                continue
            }
            if let label = token.label, label != DeliveryToken.unlabelled, !labels[label].eventType.isEmpty {
                metrics.eventFailed(table: labels[label].table, eventType: labels[label].eventType)
            }
            if error.isFatal || error.isPermanent { metrics.producerHealthy(false) }
            // Not `Kind.of`: a delivery report is never a configuration error here (the
            // topic and the producer were accepted); it recurs (fatal) or may pass (retry).
            throw BridgeError(code: .kafkaRejected, kind: error.isPermanent ? .fatal : .transient, message:
                "Kafka did not accept an event: \(error)"
                    + (error.isPermanent && deadLetters == nil ? " (set kafka.dead_letter_topic to route such records there and go on)" : ""), underlying: .kafka(error))
        }
        if let fatal = producer.fatalError() {
            metrics.producerHealthy(false)
            throw BridgeError(code: .kafkaRejected, kind: .transient,
                              message: "the Kafka producer failed fatally (\(fatal)); rebuilding it and resuming from the checkpoint")
        }
    }

    // MARK: - Time-driven actions

    /// Performs a round of the core's time-driven actions: checkpoint, confirm,
    /// status update. Returns true when a drain finished.
    private func performRound(draining: Bool) throws(BridgeError) -> Bool {
        let now = nanosecondsSinceStart()
        let moved = snapshot.confirm(upTo: core.delivered)
        var action = core.tick(now: now, sideChanged: snapshot.confirmed != checkpoints.writtenSnapshot, sideMoved: moved)
        while true {
            switch action {
            case .none:
                return false
            case .writeCheckpoint(let lsn):
                try writeCheckpoint(lsn)
                action = core.checkpointWritten(lsn, now: now)
            case .confirm(let lsn):
                // The slot is never confirmed past the checkpoint file (see `SlotContinuity`).
                stream.confirm(lsn)
                action = core.performed(now: now)
            case .sendStatus:
                if draining {
                    try? stream.sendStatusIfDue()
                } else {
                    do { try stream.sendStatusIfDue() } catch { throw BridgeError(error, context: "lost the replication connection") }
                }
                action = core.performed(now: now)
            case .finished:
                return true
            }
        }
    }

    private func writeCheckpoint(_ lsn: LSN) throws(BridgeError) {
        let gapWasOpen = checkpoints.writtenSnapshot.gap != nil
        try checkpoints.write(lsn, snapshot: snapshot.confirmed)
        if gapWasOpen, checkpoints.writtenSnapshot.gap == nil {
            logger.notice("the backfill for the recreated slot's gap is delivered: every mapped key's last event matches its table again")
            metrics.slotGap(nil)
        }
    }

    // MARK: - Metrics

    private func setCurrentTable(_ name: String) {
        currentTable = name
        currentTableRelation = 0
    }

    /// Counts a unit's events as published once all are acknowledged.
    private func published(_ tally: DeliveryTally) {
        for (label, count) in tally.counts where label != DeliveryToken.unlabelled && !labels[label].eventType.isEmpty {
            metrics.eventPublished(table: labels[label].table, eventType: labels[label].eventType, count: count)
        }
        let elapsed = nanosecondsSinceStart() &- tally.firstSent
        metrics.delivery(nanoseconds: Int64(clamping: elapsed))
    }

    private func reportLoopMetrics() {
        metrics.inflight(events: core.outstandingEvents, bytes: core.inflightBytes)
        let received = stream.bytesReceived
        if received > reportedBytesRead {
            metrics.bytesRead(Int(received - reportedBytesRead))
            reportedBytesRead = received
        }
    }

    // MARK: - Dead letters

    /// A new dead letter in the open unit (for a change or row that never became an event).
    private func deadLetter(_ record: EventRecord, eventID: String, reason: String) throws(BridgeError) {
        try produce(record)
        logDeadLetter(record, eventID: eventID, reason: reason)
    }

    private func logDeadLetter(_ record: EventRecord, eventID: String, reason: String) {
        metrics.eventDeadLettered()
        logger.warning("record sent to the dead-letter topic", metadata: [
            "deadLetterTopic": "\(record.topic)", "eventId": "\(eventID.isEmpty ? "-" : eventID)", "reason": "\(reason)"])
    }

    /// A change the mapping refused: dead-letter it, or stop with a clear error.
    private func unmappableChange(_ change: RowChange, transaction: TransactionInfo, error: MappingError) throws(BridgeError) {
        guard let deadLetters else {
            throw BridgeError(code: .mappingFailed, .mapping(error), message:
                "cannot map a change of \(change.relation.schema).\(change.relation.name) in transaction \(transaction.xid) at \(transaction.commitLSN): \(error); fix the mapping, or set kafka.dead_letter_topic to route such rows there and go on")
        }
        let letter = deadLetters.unmappableChange(change, transaction: transaction, error: error, mapper: mapper)
        try deadLetter(letter.record, eventID: letter.eventID, reason: letter.reason)
    }

    /// A change whose values could not be decoded: dead-letter it, or stop.
    private func undecodableChange(_ error: TransactionAssemblerError) throws(BridgeError) {
        if Self.meansCorruptStream(error) {
            throw .corruptStream("the replication stream is inconsistent: \(error)")
        }
        guard error.isPerChange, let transaction = error.transaction, let ordinal = error.ordinal else {
            throw BridgeError(.fatal, "cannot decode the replication stream: \(error)")
        }
        guard !core.isSkipping else { return }
        guard let deadLetters, core.transaction != nil else {
            throw BridgeError(code: .mappingFailed, kind: .fatal, message:
                "cannot decode a change in transaction \(transaction.xid) at \(transaction.commitLSN): \(error); set kafka.dead_letter_topic to route such rows there and go on")
        }
        // nil: an unmapped table, nothing would have been published.
        guard let letter = deadLetters.undecodableChange(error, transaction: transaction, ordinal: ordinal, mapper: mapper) else { return }
        try deadLetter(letter.record, eventID: letter.eventID, reason: letter.reason)
    }

    /// Chunk rows that could not become events: to the dead-letter topic, or stop.
    private func deadLetterSnapshotRows(_ outcome: SnapshotCoordinator.ChunkOutcome, transaction: TransactionInfo) throws(BridgeError) {
        guard !outcome.unmappable.isEmpty || !outcome.undecodable.isEmpty, let relation = outcome.relation else { return }
        guard let deadLetters else {
            let reason = outcome.unmappable.first.map { "\($0.error)" }
                ?? outcome.undecodable.first.map { "row with key (\($0.key)): \($0.reason)" } ?? ""
            throw BridgeError(code: .mappingFailed, kind: .fatal, message:
                "snapshot of \(relation.schema).\(relation.name): cannot turn a row into an event: \(reason); fix the row or the mapping, or set kafka.dead_letter_topic to route such rows there and go on (the snapshot resumes at this chunk)")
        }
        for letter in deadLetters.snapshotRows(outcome, relation: relation, transaction: transaction, mapper: mapper) {
            try deadLetter(letter.record, eventID: letter.eventID, reason: letter.reason)
        }
    }

    /// The short reason a dead letter carries: Kafka's error code and description
    /// and the record's size (the long advice is for the log, not for every record).
    private static func deadLetterReason(_ error: KafkaError, size: Int) -> String {
        "\(error.code.name): \(error.code.librdkafkaDescription) (record of \(size) bytes)"
    }

    /// Whether `error` says the stream itself is broken — Postgres describes
    /// every relation before its first change in a session and sends Begin …
    /// Commit in order — rather than that one change cannot be decoded. A
    /// change of a relation never described is not dead-lettered (its table
    /// is unknown): the stream is read again. A transaction committed in
    /// messages the session did not ask for is not corruption (it is what the
    /// server sent, every time) and stays fatal.
    private static func meansCorruptStream(_ error: TransactionAssemblerError) -> Bool {
        switch error.code {
        case .unknownRelation, .outsideTransaction, .beginInsideTransaction, .commitOutsideTransaction, .commitLSNMismatch:
            true
        case .columnCountMismatch, .binaryColumn, .valueDecoding, .undeliverableTransaction:
            false
        }
    }

    private func nanosecondsSinceStart() -> UInt64 {
        let elapsed = clock.now - startInstant
        return UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
    }
}
