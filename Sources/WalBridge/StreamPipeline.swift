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
    /// late a new flush position reaches Postgres (DESIGN: within about 100 ms).
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

/// The streaming loop of one replication session, on one thread: read pgoutput
/// messages while in-flight events stay under the bound, assemble them into
/// typed changes, map them to events, hand them to the producer, serve delivery
/// reports, move the watermark, confirm it to the slot and checkpoint it.
///
/// Owns nothing across sessions: the `Bridge` builds one per connection.
final class StreamPipeline {
    private let stream: ReplicationStream
    private let producer: KafkaProducer
    private let mapper: EventMapper
    private let checkpoints: CheckpointWriter
    private let tuning: PipelineTuning
    private let stop: StopSignal
    private var logger: Logger
    private let metrics: BridgeMetrics

    private var assembler: TransactionAssembler
    private(set) var watermark: Watermark
    /// Transactions whose commit LSN is below this were delivered before: skip them.
    private let skipBelow: LSN
    private var skipping = false
    private var currentToken: UInt64 = 0
    private var currentTransaction: TransactionInfo?
    private var reports: [DeliveryReport] = []
    private var caughtUpLogged = false
    private var replayWindow: ReplayWindow
    private let deadLetters: DeadLetters?
    /// Per open or unacknowledged transaction: its events by table and type, its
    /// bytes, and when its first event was handed to Kafka (for the metrics).
    private var tallies: [UInt64: TransactionTally] = [:]
    private var inflightBytes = 0
    /// `schema.table` (or message prefix) of the events being produced, for the counters.
    private var currentTable = ""
    /// The relation `currentTable` was made for (0: not from a relation).
    private var currentTableRelation: UInt32 = 0
    /// (table, event type) pairs of published events, each numbered once.
    private var labels: [PublishedKey] = []
    private var labelIndexes: [PublishedKey: Int] = [:]
    private var lastLabel: (key: PublishedKey, index: Int)?
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

    init(
        stream: ReplicationStream, producer: KafkaProducer, mapper: EventMapper, start: LSN, skipBelow: LSN,
        checkpoints: CheckpointWriter, replayWindow: Duration, deadLetters: DeadLetters?, valueDecoder: PostgresValueDecoder,
        snapshot: SnapshotSession, snapshotOptions: SnapshotRunOptions,
        tuning: PipelineTuning, stop: StopSignal, logger: Logger, metrics: BridgeMetrics
    ) {
        self.snapshotSession = snapshot
        self.snapshotOptions = snapshotOptions
        self.assembler = TransactionAssembler(valueDecoder: valueDecoder, logger: logger)
        self.replayWindow = ReplayWindow(window: replayWindow)
        self.deadLetters = deadLetters
        self.stream = stream
        self.producer = producer
        self.mapper = mapper
        self.watermark = Watermark(start: start)
        self.skipBelow = skipBelow
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
            if watermark.outstandingEvents < tuning.maxInflightEvents {
                let wait: Int32 = watermark.outstandingEvents > 0 ? 2 : 100
                do {
                    try stream.read(limit: tuning.readBatch, waitMilliseconds: wait) { (event: ReplicationEvent) throws(BridgeError) in
                        try self.handle(event)
                    }
                } catch {
                    throw Self.bridgeError(error)
                }
            } else {
                // Backpressure: stop reading; keep the walsender's timeout at bay.
                try serveDeliveryReports(waitMilliseconds: 10)
                try sendStatusIfDue()
            }
            try checkpointIfDue()
            reportLoopMetrics()
            if let failure = snapshot.channel.readerFailure { throw failure }
            if !snapshotOptions.stopWhenDone && snapshotSession.pollRequests() {
                // The requested job is in the checkpoint before its request file goes.
                try checkpoints.write(watermark.confirmed, snapshot: snapshot.confirmed, force: true)
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

    /// After a stop: waits up to `timeout` for outstanding deliveries, then
    /// checkpoints and reports the watermark. Returns the final watermark.
    func drain(timeout: Duration) throws(BridgeError) -> LSN {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while watermark.outstandingEvents > 0 && clock.now < deadline {
            try serveDeliveryReports(waitMilliseconds: 50)
            try? stream.sendStatusIfDue()
            reportLoopMetrics()
        }
        if watermark.outstandingEvents > 0 {
            logger.warning("shutdown timeout passed with events not acknowledged; they will be published again on the next start", metadata: [
                "outstanding": "\(watermark.outstandingEvents)"])
        }
        try checkpoints.write(watermark.confirmed, snapshot: deliveredSnapshot(), force: true)
        confirmCheckpointed()
        try? stream.sendStatus(replyRequested: false)
        return watermark.confirmed
    }

    /// The watermark to resume from after this session.
    var confirmed: LSN { watermark.confirmed }

    // MARK: - Messages

    private func handle(_ event: ReplicationEvent) throws(BridgeError) {
        switch event {
        case .keepalive(let walEnd):
            if !caughtUpLogged && watermark.isIdle {
                caughtUpLogged = true
                logger.info("caught up; streaming", metadata: ["lsn": "\(walEnd)"])
            }
            if watermark.idle(walEnd: walEnd) { delivered() }
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
            // A transaction whose commit record starts below the resume point ended
            // at or below it (commit records do not overlap): it was delivered.
            skipping = info.commitLSN < skipBelow
            currentXid = info.xid
            if !skipping {
                currentToken = watermark.beginTransaction()
                currentTransaction = info
            }
        case .change(let change):
            snapshot.record(xid: currentXid, change: change, mapper: mapper)
            guard !skipping, let transaction = currentTransaction else { return }
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
            guard !skipping, let transaction = currentTransaction else { return }
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
            if skipping {
                skipping = false
                if endLSN > skipBelow {
                    logger.error("skipped a transaction that ends after the resume point", metadata: [
                        "endLSN": "\(endLSN)", "resume": "\(skipBelow)"])
                }
                return
            }
            if let transaction = currentTransaction { metrics.transactionCommitted(commitTimeMicros: transaction.commitTimeMicros) }
            currentTransaction = nil
            snapshot.committed(endLSN: endLSN)
            let advanced = watermark.commit(endLSN: endLSN)
            settleIfDone(currentToken)
            if advanced { delivered() }
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
            guard !skipping, let transaction = currentTransaction else { return }
            if message.prefix == SnapshotWatermark.prefix {
                try snapshotWatermark(message, transaction: transaction)
                return
            }
            setCurrentTable(message.prefix)
            try produce(mapMessage(message, transactionOrdinal: transactionOrdinal, transaction: transaction))
            return
        }
        guard message.lsn >= skipBelow else { return }
        let records = try mapMessage(message, transactionOrdinal: nil, transaction: nil)
        currentToken = watermark.beginTransaction()
        setCurrentTable(message.prefix)
        try produce(records)
        let advanced = watermark.commit(endLSN: message.lsn)
        settleIfDone(currentToken)
        if advanced { delivered() }
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

    /// Chunk rows that could not become events: to the dead-letter topic, or stop.
    private func deadLetterSnapshotRows(_ outcome: SnapshotCoordinator.ChunkOutcome, transaction: TransactionInfo) throws(BridgeError) {
        guard !outcome.unmappable.isEmpty || !outcome.undecodable.isEmpty, let relation = outcome.relation else { return }
        let table = "\(relation.schema).\(relation.name)"
        guard let deadLetters else {
            let reason = outcome.unmappable.first.map { "\($0.error)" }
                ?? outcome.undecodable.first.map { "row with key (\($0.key)): \($0.reason)" } ?? ""
            throw BridgeError(.fatal,
                "snapshot of \(table): cannot turn a row into an event: \(reason); fix the row or the mapping, or set kafka.dead_letter_topic to route such rows there and go on (the snapshot resumes at this chunk)")
        }
        let mapping = mapper.mapping(forSchema: relation.schema, table: relation.name)
        let (columns, sourceTopic) = Self.allowlist(of: mapping)
        var ordinal = 0
        for (change, error) in outcome.unmappable {
            let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
            ordinal += 1
            try deadLetter(deadLetters.record(
                forUnmappableChange: change, transaction: transaction, eventID: eventID,
                mappedColumns: columns, sourceTopic: sourceTopic, reason: "snapshot: \(error.description)"),
                token: currentToken, counted: false, eventID: eventID, reason: error.description)
        }
        for (key, reason) in outcome.undecodable {
            let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
            ordinal += 1
            let text = "snapshot row with key (\(key)): \(reason)"
            try deadLetter(deadLetters.record(
                forUndecodableChange: relation, transaction: transaction, eventID: eventID, sourceTopic: sourceTopic, reason: text),
                token: currentToken, counted: false, eventID: eventID, reason: text)
        }
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
        _ = snapshot.confirm(upTo: watermark.confirmed)
        return snapshot.confirmed
    }

    private func mapMessage(_ message: LogicalMessage, transactionOrdinal: Int?, transaction: TransactionInfo?) throws(BridgeError) -> [EventRecord] {
        do {
            return try mapper.map(message, transactionOrdinal: transactionOrdinal, transaction: transaction,
                                  sentAtMicros: ReplicationStream.unixMicrosNow())
        } catch {
            throw BridgeError(.fatal, "cannot map a logical message with prefix '\(message.prefix)' at \(message.lsn): \(error)")
        }
    }

    // MARK: - Kafka

    private func produce(_ records: [EventRecord]) throws(BridgeError) {
        for record in records { try produce(record) }
    }

    /// Hands one record to the producer under `token` (default: the open
    /// transaction's), waiting while librdkafka's queue is full. `counted: false`
    /// replaces an event already counted as outstanding (a dead letter for a
    /// failed delivery).
    private func produce(_ record: EventRecord, token: UInt64? = nil, counted: Bool = false) throws(BridgeError) {
        let token = token ?? currentToken
        headers.removeAll(keepingCapacity: true)
        for header in record.headers { headers.append(KafkaHeader(name: header.name, value: header.value)) }
        while true {
            do {
                try producer.produce(topic: record.topic, key: record.key, value: record.value, headers: headers, token: token)
                if !counted {
                    watermark.eventSent(token: token)
                    tally(token: token, record: record)
                }
                return
            } catch {
                // (`catch where` with typed throws crashes swiftc 6.3.1 in -O builds.)
                guard error.isQueueFull else {
                    if error.isPermanent, let deadLetters, record.topic != deadLetters.topic {
                        let reason = Self.deadLetterReason(error, size: (record.key?.count ?? 0) + (record.value?.count ?? 0))
                        try deadLetter(deadLetters.record(
                            forOversizedEvent: record.value, key: record.key, sourceTopic: record.topic, reason: reason),
                            token: token, counted: counted, eventID: record.eventID, reason: reason)
                        return
                    }
                    // A fatal producer error rebuilds the producer and resumes from the checkpoint.
                    let kind: BridgeError.Kind = error.isConfigurationError ? .configuration : (error.isPermanent ? .fatal : .transient)
                    throw BridgeError(kind,
                        "cannot publish event \(record.eventID) to topic '\(record.topic)': \(error)"
                            + (error.isPermanent ? " (set kafka.dead_letter_topic to route such records there and go on)" : ""))
                }
                // librdkafka's queue is full (bytes or count): wait for deliveries.
                try serveDeliveryReports(waitMilliseconds: 10)
                try sendStatusIfDue()
                if stop.isRequested {
                    throw BridgeError(.transient, "stopping while Kafka's queue is full")
                }
            }
        }
    }

    private func serveDeliveryReports(waitMilliseconds: Int32) throws(BridgeError) {
        reports.removeAll(keepingCapacity: true)
        _ = producer.poll(timeoutMilliseconds: waitMilliseconds, into: &reports)
        var advanced = false
        for report in reports {
            if let error = report.error {
                if error.isPermanent, let deadLetters, let failed = report.failedRecord, failed.topic != deadLetters.topic {
                    let reason = Self.deadLetterReason(error, size: (failed.key?.count ?? 0) + (failed.value?.count ?? 0))
                    let record = error.code == .messageSizeTooLarge || error.code == .recordListTooLarge
                        ? deadLetters.record(forOversizedEvent: failed.value, key: failed.key, sourceTopic: failed.topic, reason: reason)
                        : deadLetters.record(forRejectedEvent: failed, reason: reason)
                    untally(token: report.token, failedValue: failed.value)
                    try deadLetter(record, token: report.token, counted: true, eventID: "", reason: reason)
                    continue
                }
                if let failed = report.failedRecord { metrics.eventFailed(table: failed.topic, eventType: "") }
                if error.isFatal || error.isPermanent { metrics.producerHealthy(false) }
                throw BridgeError(error.isPermanent ? .fatal : .transient,
                    "Kafka did not accept an event: \(error)"
                        + (error.isPermanent && deadLetters == nil ? " (set kafka.dead_letter_topic to route such records there and go on)" : ""))
            }
            if watermark.acknowledge(token: report.token) { advanced = true }
            settleIfDone(report.token)
        }
        if advanced { delivered() }
        if let fatal = producer.fatalError() {
            metrics.producerHealthy(false)
            throw BridgeError(.transient, "the Kafka producer failed fatally (\(fatal)); rebuilding it and resuming from the checkpoint")
        }
    }

    // MARK: - Metrics

    /// What one transaction has in flight, for the published-events counters and
    /// the delivery-latency histogram (per transaction: from its first event
    /// handed to Kafka until its last is acknowledged).
    struct TransactionTally {
        var firstSent: ContinuousClock.Instant
        var bytes = 0
        /// Events per label: the first label inline (most transactions have one), any others in `more`.
        var label = -1
        var count = 0
        var more: [Int: Int]?

        mutating func add(label index: Int, bytes size: Int) {
            bytes += size
            add(label: index)
        }

        mutating func add(label index: Int) {
            if label == index || label < 0 {
                label = index
                count += 1
            } else {
                more?[index, default: 0] += 1
                if more == nil { more = [index: 1] }
            }
        }

        mutating func remove(label index: Int) {
            if label == index, count > 0 {
                count -= 1
            } else if let current = more?[index], current > 0 {
                more?[index] = current - 1
            }
        }

        /// Every (label, count) with a count.
        var counts: [(label: Int, count: Int)] {
            var result: [(Int, Int)] = count > 0 ? [(label, count)] : []
            for (index, value) in more ?? [:] where value > 0 { result.append((index, value)) }
            return result
        }
    }

    struct PublishedKey: Hashable {
        var table: String
        var eventType: String
    }

    private func tally(token: UInt64, record: EventRecord) {
        let size = (record.key?.count ?? 0) + (record.value?.count ?? 0)
        inflightBytes += size
        let label = labelIndex(table: currentTable, eventType: record.eventType)
        // One hash lookup per event; the clock is read for a transaction's first event only.
        tallies[token, default: TransactionTally(firstSent: clock.now)].add(label: label, bytes: size)
    }

    private func setCurrentTable(_ name: String) {
        currentTable = name
        currentTableRelation = 0
    }

    /// The number of a (table, event type) pair; the last one is remembered, so a run of one table's events hashes nothing.
    private func labelIndex(table: String, eventType: String) -> Int {
        if let lastLabel, lastLabel.key.table == table, lastLabel.key.eventType == eventType { return lastLabel.index }
        let key = PublishedKey(table: table, eventType: eventType)
        let index: Int
        if let known = labelIndexes[key] {
            index = known
        } else {
            index = labels.count
            labels.append(key)
            labelIndexes[key] = index
        }
        lastLabel = (key, index)
        return index
    }

    /// An event of `token` was refused and dead-lettered: it does not count as
    /// published. Its table and type come from its envelope (a rare path).
    private func untally(token: UInt64, failedValue: [UInt8]?) {
        guard tallies[token] != nil, let failedValue,
              let envelope = (try? JSONSerialization.jsonObject(with: Data(failedValue))) as? [String: Any],
              let eventType = envelope["eventType"] as? String,
              let source = envelope["source"] as? [String: Any]
        else { return }
        let table = source["table"].map { "\(source["schema"] ?? "").\($0)" } ?? (source["prefix"] as? String ?? "")
        guard let label = labelIndexes[PublishedKey(table: table, eventType: eventType)] else { return }
        tallies[token]!.remove(label: label)
    }

    /// Counts a transaction's events as published once all are acknowledged.
    private func settleIfDone(_ token: UInt64) {
        guard watermark.isSettled(token: token), let tally = tallies.removeValue(forKey: token) else { return }
        inflightBytes -= tally.bytes
        for (label, count) in tally.counts where !labels[label].eventType.isEmpty {
            metrics.eventPublished(table: labels[label].table, eventType: labels[label].eventType, count: count)
        }
        let elapsed = clock.now - tally.firstSent
        metrics.delivery(nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    private func reportLoopMetrics() {
        metrics.inflight(events: watermark.outstandingEvents, bytes: inflightBytes)
        let received = stream.bytesReceived
        if received > reportedBytesRead {
            metrics.bytesRead(Int(received - reportedBytesRead))
            reportedBytesRead = received
        }
    }

    // MARK: - Dead letters

    private func deadLetter(_ record: EventRecord, token: UInt64, counted: Bool, eventID: String, reason: String) throws(BridgeError) {
        try produce(record, token: token, counted: counted)
        metrics.eventDeadLettered()
        logger.warning("record sent to the dead-letter topic", metadata: [
            "deadLetterTopic": "\(record.topic)", "eventId": "\(eventID.isEmpty ? "-" : eventID)", "reason": "\(reason)"])
    }

    /// A change the mapping refused: dead-letter it, or stop with a clear error.
    private func unmappableChange(_ change: RowChange, transaction: TransactionInfo, error: MappingError) throws(BridgeError) {
        let table = "\(change.relation.schema).\(change.relation.name)"
        guard let deadLetters else {
            throw BridgeError(.fatal,
                "cannot map a change of \(table) in transaction \(transaction.xid) at \(transaction.commitLSN): \(error); fix the mapping, or set kafka.dead_letter_topic to route such rows there and go on")
        }
        let mapping = mapper.mapping(forSchema: change.relation.schema, table: change.relation.name)
        let (columns, sourceTopic) = Self.allowlist(of: mapping)
        let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: change.ordinal)
        try deadLetter(deadLetters.record(
            forUnmappableChange: change, transaction: transaction, eventID: eventID,
            mappedColumns: columns, sourceTopic: sourceTopic, reason: error.description),
            token: currentToken, counted: false, eventID: eventID, reason: error.description)
    }

    /// A change whose values could not be decoded: dead-letter it, or stop.
    private func undecodableChange(_ error: TransactionAssemblerError) throws(BridgeError) {
        if Self.meansCorruptStream(error) {
            throw .corruptStream("the replication stream is inconsistent: \(error)")
        }
        guard error.isPerChange, let transaction = error.transaction, let ordinal = error.ordinal else {
            throw BridgeError(.fatal, "cannot decode the replication stream: \(error)")
        }
        guard !skipping else { return }
        guard let deadLetters, currentTransaction != nil else {
            throw BridgeError(.fatal,
                "cannot decode a change in transaction \(transaction.xid) at \(transaction.commitLSN): \(error); set kafka.dead_letter_topic to route such rows there and go on")
        }
        let mapping = error.relation.flatMap { mapper.mapping(forSchema: $0.schema, table: $0.name) }
        guard mapping != nil else { return }  // an unmapped table: nothing would have been published
        let eventID = mapper.eventID(commitLSN: transaction.commitLSN, ordinal: ordinal)
        try deadLetter(deadLetters.record(
            forUndecodableChange: error.relation, transaction: transaction, eventID: eventID,
            sourceTopic: Self.allowlist(of: mapping).topic, reason: error.description),
            token: currentToken, counted: false, eventID: eventID, reason: error.description)
    }

    /// The short reason a dead letter carries: Kafka's error code and description
    /// and the record's size (the long advice is for the log, not for every record).
    private static func deadLetterReason(_ error: KafkaError, size: Int) -> String {
        "\(error.code.name): \(error.code.librdkafkaDescription) (record of \(size) bytes)"
    }

    /// The columns a mapping publishes, and its topic.
    private static func allowlist(of mapping: Mapping?) -> (columns: Set<String>, topic: String) {
        switch mapping {
        // Transformed (hashed, masked) columns are left out: a dead letter never carries their raw value.
        case .table(let table): return (Set(table.fields.filter { $0.transform == nil }.map(\.column) + (table.key ?? [])), table.topic)
        case .outbox(let outbox):
            return ([outbox.columns.aggregateType, outbox.columns.aggregateID, outbox.columns.eventType, outbox.columns.payload], outbox.topic)
        case .message, nil: return ([], "")
        }
    }

    private func sendStatusIfDue() throws(BridgeError) {
        do { try stream.sendStatusIfDue() } catch { throw BridgeError(error, context: "lost the replication connection") }
    }

    /// Writes the checkpoint when due, then confirms to the slot what the file
    /// now holds (or, with a replay window, the part of it older than the window).
    ///
    /// The slot is never confirmed past the checkpoint file: so WalBridge's own
    /// slot is never ahead of its checkpoint, and a slot found ahead of it at
    /// the next start can only be another slot (dropped and created again), whose
    /// gap `Bridge` refuses to stream past. The cost is the flush report waiting
    /// for the next checkpoint write (at most `checkpointInterval`, 100 ms by
    /// default, plus one fsync).
    private func checkpointIfDue() throws(BridgeError) {
        let snapshotMoved = snapshot.confirm(upTo: watermark.confirmed)
        let gapWasOpen = checkpoints.writtenSnapshot.gap != nil
        try checkpoints.write(watermark.confirmed, snapshot: snapshot.confirmed, force: snapshotMoved)
        if gapWasOpen, checkpoints.writtenSnapshot.gap == nil {
            logger.notice("the backfill for the recreated slot's gap is delivered: every mapped key's last event matches its table again")
            metrics.slotGap(nil)
        }
        confirmCheckpointed()
    }

    /// Confirms to the slot the checkpointed position (see `checkpointIfDue`).
    private func confirmCheckpointed() {
        if replayWindow.isImmediate {
            stream.confirm(checkpoints.written)
        } else if let lsn = replayWindow.confirmable(now: nanosecondsSinceStart()) {
            stream.confirm(min(lsn, checkpoints.written))
        }
    }

    /// The watermark moved: the next checkpoint write takes it (and confirms it
    /// to the slot); with a replay window, remember when it was delivered.
    private func delivered() {
        if !replayWindow.isImmediate {
            replayWindow.delivered(watermark.confirmed, now: nanosecondsSinceStart())
        }
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

    private static func bridgeError(_ error: ReplicationStreamError<BridgeError>) -> BridgeError {
        switch error {
        case .handler(let failure): return failure
        case .postgres(let failure): return BridgeError(failure, context: "replication stream")
        case .decoding(let failure): return .corruptStream("cannot decode the replication stream: \(failure)")
        case .ended: return BridgeError(.transient, "Postgres ended the replication stream")
        }
    }
}

/// Writes the checkpoint file when the watermark moved, at most once per interval.
final class CheckpointWriter {
    private let store: CheckpointStore
    private let systemID: String
    private let slot: String
    private let interval: Duration
    private let clock = ContinuousClock()
    private var lastWritten: LSN
    private var lastSnapshot: SnapshotState
    /// The position the checkpoint file holds (or held when the session
    /// started): the furthest the slot may be confirmed.
    var written: LSN { lastWritten }
    /// The backfill state (and slot gap) the checkpoint file holds.
    var writtenSnapshot: SnapshotState { lastSnapshot }
    private var lastWriteTime: ContinuousClock.Instant
    private let metrics: BridgeMetrics

    /// - Parameters:
    ///   - initial: the position the checkpoint file holds now (nothing at or below it is written again).
    ///   - initialSnapshot: the backfill state the file holds now.
    init(store: CheckpointStore, systemID: String, slot: String, interval: Duration, initial: LSN,
         initialSnapshot: SnapshotState, metrics: BridgeMetrics) {
        self.lastSnapshot = initialSnapshot
        self.store = store
        self.systemID = systemID
        self.slot = slot
        self.interval = interval
        self.lastWritten = initial
        self.lastWriteTime = ContinuousClock().now
        self.metrics = metrics
    }

    /// Writes `lsn` with the backfill progress delivered up to it, when either
    /// moved and the interval passed (or `force`).
    func write(_ lsn: LSN, snapshot: SnapshotState, force: Bool) throws(BridgeError) {
        guard lsn > lastWritten || (snapshot != lastSnapshot && lsn >= lastWritten) else { return }
        let now = clock.now
        guard force || now - lastWriteTime >= interval else { return }
        do {
            try store.save(Checkpoint(systemID: systemID, slot: slot, lsn: lsn, snapshot: snapshot))
        } catch {
            throw BridgeError(.fatal, "\(error)")
        }
        lastWritten = lsn
        lastSnapshot = snapshot
        lastWriteTime = now
        metrics.checkpoint(lsn)
    }
}
