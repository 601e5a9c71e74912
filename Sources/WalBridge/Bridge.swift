import Configuration
import EventMapping
import Foundation
import KafkaPublisher
import Logging
import PostgresReplication

/// Options of one `walbridge run` beyond the configuration file.
public struct BridgeOptions: Sendable {
    /// `--from-lsn`: republish every transaction whose end LSN is above it.
    public var fromLSN: LSN?
    /// `--wait-for-slot`: when another connection holds the slot, wait for it
    /// to be released (a hot standby) instead of failing.
    public var waitForSlot = false
    /// `--recreate-slot`: when the checkpoint's slot is lost (missing, or
    /// replaced by another slot), create or adopt a slot anyway, record the gap
    /// in the checkpoint and backfill the mapped tables (see `SlotGap`).
    public var recreateSlot = false
    /// `walbridge snapshot`: backfill these tables (while streaming), then return.
    public var snapshot: SnapshotRequest?
    /// Called about once a second with the backfill's delivered progress, and once when it ends.
    public var onSnapshotProgress: (@Sendable (SnapshotProgress, _ final: Bool) -> Void)?
    public var tuning = PipelineTuning()

    public init(fromLSN: LSN? = nil, waitForSlot: Bool = false) {
        self.fromLSN = fromLSN
        self.waitForSlot = waitForSlot
    }
}

/// What `walbridge snapshot` asks for.
public struct SnapshotRequest: Sendable, Hashable {
    /// The tables to backfill, in order; empty means every table mapping.
    public var tables: [QualifiedName]
    /// `--where`: an SQL condition on every table's rows.
    public var filter: String?

    public init(tables: [QualifiedName], filter: String?) {
        self.tables = tables
        self.filter = filter
    }
}

/// The running bridge: connects to Postgres, checks the configuration against
/// it, creates the slot and publication when missing, resumes from the
/// checkpoint, streams through a `StreamPipeline`, and reconnects with capped
/// exponential backoff and jitter after transient failures (docs/delivery.md,
/// "Restart and replay rules"; docs/operations.md, "Replay"). Runs on the calling thread until stopped.
public final class Bridge {
    let configuration: BridgeConfiguration
    let options: BridgeOptions
    private let stop: StopSignal
    let logger: Logger
    private var metrics = BridgeMetrics()
    let store: CheckpointStore

    /// The position to resume from after a failure within this process: the last
    /// confirmed watermark (nil until a session has started).
    private var resumeLSN: LSN?
    /// The backfill progress delivered so far (nil until the first session read the checkpoint).
    var snapshotState: SnapshotState?
    /// This session decodes on a hot standby and no `postgres.primary_url` says
    /// where backfill watermarks can be written.
    var standbyWithoutPrimary = false

    public init(configuration: BridgeConfiguration, options: BridgeOptions = BridgeOptions(), stop: StopSignal, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.stop = stop
        self.logger = logger
        self.store = CheckpointStore(path: configuration.checkpoint.path)
    }

    /// Runs until a stop is requested (returns normally, after draining and
    /// checkpointing) or a non-transient failure (throws).
    public func run() throws(BridgeError) {
        // The metrics listener and the slot monitor run in a ServiceGroup: when
        // one fails, the bridge stops as on a stop request (drain, checkpoint)
        // and then fails with that error.
        let observability = try Observability.start(
            configuration: configuration, logger: logger,
            options: ObservabilityOptions(readyMaxLag: configuration.metrics.readyMaxLag),
            onFailure: { [stop] _ in stop.request() })
        defer { observability.stop() }
        metrics = observability.metrics
        let clock = ContinuousClock()
        var attempt = 0
        var corruptStreams = CorruptStreamRetries(limit: options.tuning.corruptStreamAttempts)
        while !stop.isRequested {
            let started = clock.now
            do {
                try session()
                break
            } catch {
                guard error.kind == .transient else { throw error }
                if error.isCorruptStream, let final = corruptStreams.record(error, delivered: resumeLSN) { throw final }
                if clock.now - started >= options.tuning.healthyAfter { attempt = 0 }
                attempt += 1
                metrics.reconnecting()
                let pause = backoff(attempt: attempt)
                logger.warning("\(error.message); reconnecting", metadata: [
                    "attempt": "\(attempt)", "retryIn": "\(DurationText.format(pause))"])
                sleep(pause)
            }
        }
        if let failure = observability.failure { throw failure }
    }

    /// One connection's life: preflight, resume point, stream, drain.
    private func session() throws(BridgeError) {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: configuration.postgres.url, replication: true)
        } catch {
            throw BridgeError(error, context: "cannot connect to Postgres")
        }
        logger.info("connected to Postgres", metadata: ["server": "\(connection.safeDescription)", "version": "\(connection.version)"])
        // The checkpoint file is read once, until a session has a resume point of its own,
        // unless another process moved it on meanwhile (below).
        let checkpoint = resumeLSN == nil ? try loadCheckpoint() : nil
        if resumeLSN != nil, try adoptProgressOfAnotherProcess(identity: connection) { return }
        if let checkpoint { try checkOwnership(checkpoint, identity: connection) }
        // What was delivered from a slot so far: a slot may be created only when nothing was, or on purpose.
        let deliveredLSN = resumeLSN ?? checkpoint?.lsn
        var preflight = SourcePreflight(configuration: configuration, logger: logger, dryRun: false)
        preflight.createMissingSlot = deliveredLSN == nil || (options.recreateSlot && resumeLSN == nil)
        let prepared = try preflight.prepare(connection)
        for warning in prepared.warnings { logger.warning("\(warning)") }
        let continuity = SlotContinuity.check(
            checkpointLSN: deliveredLSN,
            slotFollowsCheckpoint: resumeLSN != nil || checkpoint?.slotFollowsCheckpoint == true,
            slotLSN: prepared.createdSlotAt ?? prepared.slot?.confirmedFlushLSN ?? (prepared.slot == nil ? nil : .zero),
            createdNow: prepared.createdSlotAt != nil)
        let gap = try slotGap(continuity, checkpoint: checkpoint)
        guard var slot = prepared.slot else {
            throw BridgeError(code: .slotMissing, kind: .fatal, message: "replication slot '\(configuration.postgres.slot)' is missing after creation")
        }
        if slot.isActive, let pid = slot.activePID {
            if options.waitForSlot {
                slot = try waitForSlot(slot, holder: pid, connection: connection)
            } else {
                throw BridgeError(code: .slotInUse, kind: resumeLSN == nil ? .fatal : .transient, message:
                    "replication slot '\(slot.name)' is in use by another connection (PID \(pid)); stop the other WalBridge, or check pg_stat_replication for that PID (run with --wait-for-slot to stand by until it is free)")
            }
        }
        if stop.isRequested { return }

        let (start, skipBelow) = try resumePoint(slot: slot, identity: prepared.identity, checkpoint: checkpoint, gap: gap)
        // What the checkpoint file holds now: as read, or as the last session left it.
        var writtenSnapshot = (resumeLSN == nil ? checkpoint?.snapshot : self.snapshotState) ?? SnapshotState()
        var snapshotState = try snapshotState(connection: connection, stored: checkpoint?.snapshot)
        if let gap {
            snapshotState = try recordGap(gap, state: snapshotState, systemID: prepared.identity.systemID, connection: connection)
            writtenSnapshot = snapshotState
        }
        metrics.slotGap(snapshotState.gap)
        metrics.serverRole(standby: prepared.isStandby)
        standbyWithoutPrimary = prepared.isStandby && configuration.postgres.primaryURL == nil
        if let job = snapshotState.job, standbyWithoutPrimary {
            throw BridgeError(.configuration, Self.standbySnapshotRefusal(job.tables.map(\.table.description)))
        }
        if let recorded = snapshotState.gap, gap == nil {
            logger.error("the checkpoint records a slot gap not yet healed: \(recorded.summary)")
        }
        let mapper: EventMapper
        do {
            mapper = try EventMapper(configuration: configuration, keyColumns: prepared.keyColumns,
                                     systemID: prepared.identity.systemID, database: prepared.identity.database)
        } catch {
            throw BridgeError(code: .configurationInvalid, .configuration(error), message: "\(error)")
        }
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: producerConfiguration(), logger: logger)
        } catch {
            throw BridgeError(code: .kafkaUnavailable, .kafka(error), message: "cannot create the Kafka producer: \(error)", retryable: false)
        }
        defer { producer.close() }
        metrics.producerHealthy(true)
        // Learn the topics' partitions now, not inside the first event's produce.
        producer.prepare(topics: staticTopics())

        let stream: ReplicationStream
        do {
            stream = try ReplicationStream(
                connection: connection, slot: slot.name, publications: [configuration.postgres.publication],
                startLSN: start, confirmedLSN: slot.confirmedFlushLSN ?? .zero,
                // Always: the backfill's watermarks are logical messages.
                logicalMessages: true,
                statusInterval: statusInterval(connection))
        } catch {
            throw BridgeError(error, context: "cannot start replication from slot '\(slot.name)'")
        }
        logger.info("streaming", metadata: [
            "slot": "\(slot.name)", "publication": "\(configuration.postgres.publication)",
            "from": "\(start)", "walsenderPID": "\(stream.walsenderPID)"])
        metrics.connected(true, walsenderPID: stream.walsenderPID)
        defer { metrics.connected(false) }

        let checkpoints = CheckpointWriter(
            store: store, systemID: prepared.identity.systemID, slot: slot.name,
            initialSnapshot: writtenSnapshot, metrics: metrics)
        if let job = snapshotState.job {
            logger.info("snapshot: backfilling while streaming", metadata: [
                "tables": "\(job.tables.filter { !$0.done }.map(\.table.description))", "job": "\(job.id)",
                "rowsDone": "\(job.rowsDone)"])
        }
        let snapshotSession = SnapshotSession(
            state: snapshotState,
            requests: options.snapshot == nil ? SnapshotRequestFile(checkpointPath: configuration.checkpoint.path) : nil,
            makeReader: { [configuration, logger] job, session, channel in
                SnapshotReader(url: configuration.postgres.primaryURL ?? configuration.postgres.url, job: job, plans: self.snapshotPlans(job, keyColumns: prepared.keyColumns),
                               channel: channel, session: session, valueDecoder: prepared.valueDecoder, logger: logger)
            },
            accept: { [configuration, logger, standbyWithoutPrimary] request throws(BridgeError) in
                try Bridge.acceptSnapshotRequest(request, configuration: configuration,
                                                 standbyWithoutPrimary: standbyWithoutPrimary, logger: logger)
            },
            logger: logger)
        defer { snapshotSession.stop() }
        metrics.prepareEventCounters(for: configuration.mappings)
        let pipeline = StreamPipeline(
            stream: stream, producer: producer, mapper: mapper, start: start, skipBelow: skipBelow,
            checkpointed: skipBelow, checkpoints: checkpoints, replayWindow: configuration.postgres.replayWindow,
            deadLetters: configuration.kafka.deadLetterTopic.map { DeadLetters(topic: $0, database: prepared.identity.database) },
            valueDecoder: prepared.valueDecoder,
            snapshot: snapshotSession,
            snapshotOptions: SnapshotRunOptions(stopWhenDone: options.snapshot != nil, onProgress: options.onSnapshotProgress),
            tuning: options.tuning,
            stop: stop, logger: logger, metrics: metrics)
        snapshotSession.start()
        let exit: PipelineExit
        do {
            exit = try pipeline.run()
        } catch {
            // Keep what Kafka acknowledged: the watermark never passes an unacknowledged event.
            resumeLSN = max(resumeLSN ?? .zero, pipeline.delivered)
            try? pipeline.checkpointDelivered()
            self.snapshotState = pipeline.deliveredSnapshot()
            throw error
        }
        snapshotSession.stop()
        if exit == .snapshotFinished { logger.info("snapshot delivered; stopping") }
        logger.info("stopping: waiting for outstanding deliveries", metadata: [
            "outstanding": "\(pipeline.outstandingEvents)", "timeout": "\(DurationText.format(configuration.shutdownTimeout))"])
        let final = try pipeline.drain(timeout: configuration.shutdownTimeout)
        resumeLSN = final
        self.snapshotState = pipeline.deliveredSnapshot()
        logger.info("stopped", metadata: ["checkpoint": "\(final)"])
    }

    /// The gap a lost slot leaves, when `--recreate-slot` allows going on past it;
    /// nil when the slot continues the checkpoint.
    /// - Throws: the refusal (exit 2) when the slot is lost and `--recreate-slot` was not given.
    private func slotGap(_ continuity: SlotContinuity, checkpoint: Checkpoint?) throws(BridgeError) -> SlotGap? {
        let refusal = SlotContinuity.refusal(continuity, slot: configuration.postgres.slot, checkpointPath: store.path)
        switch continuity {
        case .firstStart, .continues:
            if options.recreateSlot && resumeLSN == nil {
                logger.info("--recreate-slot: the slot continues the checkpoint (or there is none yet); nothing to recreate",
                            metadata: ["slot": "\(configuration.postgres.slot)"])
            }
            return nil
        case .missing:
            // Only reached when the slot could not be created: without --recreate-slot, or on a reconnect.
            throw BridgeError(code: .slotMissing, kind: .configuration, message: refusal ?? "")
        case .gap(let checkpointLSN, let slotLSN):
            guard options.recreateSlot && resumeLSN == nil else { throw BridgeError(code: .slotGap, kind: .configuration, message: refusal ?? "") }
            return SlotGap(checkpointLSN: checkpointLSN, slotLSN: slotLSN, backfillJobID: nil)
        }
    }

    /// Records `gap` in the checkpoint with the backfill that heals it (every
    /// table mapping that has a snapshot event), before anything streams, so a
    /// crash from here on still knows of it. Returns the session's backfill state.
    private func recordGap(_ gap: SlotGap, state stored: SnapshotState, systemID: String,
                           connection: PostgresConnection) throws(BridgeError) -> SnapshotState {
        var state = stored
        var gap = gap
        let tables = configuration.tableMappings.filter { $0.snapshotEventType != nil }.map(\.table)
        if let unfinished = state.job {
            logger.warning("--recreate-slot: the unfinished snapshot job is replaced by a full backfill for the gap", metadata: [
                "job": "\(unfinished.id)"])
            state.job = nil
        }
        if !tables.isEmpty {
            let job = try newJob(origin: .recreatedSlot, tables: tables, filter: nil, connection: connection)
            state.job = job
            gap.backfillJobID = job.id
        }
        state.gap = gap
        self.snapshotState = state
        do {
            try store.save(Checkpoint(systemID: systemID, slot: configuration.postgres.slot, lsn: gap.slotLSN, snapshot: state))
        } catch {
            throw BridgeError(error)
        }
        logger.error("replication slot recreated with --recreate-slot: \(gap.summary)", metadata: [
            "slot": "\(configuration.postgres.slot)", "checkpointLSN": "\(gap.checkpointLSN)", "slotLSN": "\(gap.slotLSN)",
            "backfillTables": "\(tables.map(\.description))"])
        return state
    }

    /// Refuses a checkpoint of another Postgres system or slot (before any slot is created for it).
    private func checkOwnership(_ checkpoint: Checkpoint, identity connection: PostgresConnection) throws(BridgeError) {
        let identity: SystemIdentity
        do {
            identity = try connection.identifySystem()
        } catch {
            throw BridgeError(error, context: "cannot identify the Postgres system")
        }
        if let problem = checkpoint.ownershipProblem(systemID: identity.systemID, slot: configuration.postgres.slot, path: store.path) {
            throw BridgeError(code: .checkpointUnusable, kind: .configuration, message: problem)
        }
    }

    /// Where to start streaming and which transactions to skip as delivered.
    private func resumePoint(slot: SlotInfo, identity: SystemIdentity, checkpoint: Checkpoint?, gap: SlotGap?) throws(BridgeError) -> (start: LSN, skipBelow: LSN) {
        if let resumeLSN { return (resumeLSN, resumeLSN) }
        if let gap {
            logger.info("streaming from the new slot's position, after the gap", metadata: ["lsn": "\(gap.slotLSN)"])
            return (gap.slotLSN, gap.slotLSN)
        }
        let slotPosition = slot.confirmedFlushLSN ?? .zero
        if let from = options.fromLSN {
            guard from >= slotPosition else {
                throw BridgeError(.configuration,
                    "--from-lsn \(from) is older than what slot '\(slot.name)' can replay; the earliest replayable LSN is \(slotPosition) (set postgres.replay_window to keep more WAL replayable)")
            }
            logger.info("replaying", metadata: ["fromLSN": "\(from)"])
            return (from, from)
        }
        guard let checkpoint else {
            logger.info("no checkpoint yet; starting from the slot's position", metadata: ["lsn": "\(slotPosition)"])
            return (slotPosition, slotPosition)
        }
        // `checkOwnership` made sure it is this system's and this slot's checkpoint.
        logger.info("resuming from checkpoint", metadata: ["lsn": "\(checkpoint.lsn)", "slotLSN": "\(slotPosition)"])
        return (checkpoint.lsn, checkpoint.lsn)
    }

    /// After a lost connection: takes over what another WalBridge process
    /// delivered from the slot meanwhile. While this process was disconnected,
    /// `walbridge snapshot` (or, for that command, `walbridge run --wait-for-slot`)
    /// may have found the slot free, streamed from it, and recorded its
    /// progress in the shared checkpoint file, confirming the slot no further
    /// than that file. A file past this process's position is then the slot's
    /// own history, not a gap: resume from it, with its backfill state, as a
    /// fresh start would. Returns true when the session has nothing left to do
    /// (this `walbridge snapshot`'s job was finished by the other process).
    private func adoptProgressOfAnotherProcess(identity connection: PostgresConnection) throws(BridgeError) -> Bool {
        guard let resume = resumeLSN, let file = try loadCheckpoint(), file.slotFollowsCheckpoint, file.lsn > resume else {
            return false
        }
        try checkOwnership(file, identity: connection)
        logger.notice("the checkpoint file moved past this process's position while it was disconnected: another WalBridge process streamed from the slot meanwhile; resuming from the file", metadata: [
            "lsn": "\(file.lsn)", "previous": "\(resume)"])
        let ownJob = snapshotState?.job?.id
        resumeLSN = file.lsn
        snapshotState = file.snapshot
        if options.snapshot != nil, let ownJob, file.snapshot.job?.id != ownJob {
            logger.info("snapshot delivered by the other WalBridge process; stopping", metadata: ["job": "\(ownJob)"])
            return true
        }
        return false
    }

    /// The checkpoint file, or nil when there is none yet.
    private func loadCheckpoint() throws(BridgeError) -> Checkpoint? {
        do {
            return try store.load()
        } catch {
            throw BridgeError(error)
        }
    }

    /// Every topic known before the first event: mapped topics without an
    /// `{aggregate_type}` placeholder, message topics and the dead-letter topic.
    private func staticTopics() -> [String] {
        var topics = configuration.tableMappings.map(\.topic) + configuration.messageMappings.map(\.topic)
        topics += configuration.outboxMappings.map(\.topic).filter { !$0.contains("{") }
        if let deadLetter = configuration.kafka.deadLetterTopic { topics.append(deadLetter) }
        return topics
    }

    /// Stands by until the slot's holder lets go (polling once a second), or a stop is requested.
    private func waitForSlot(_ slot: SlotInfo, holder: Int32, connection: PostgresConnection) throws(BridgeError) -> SlotInfo {
        logger.info("replication slot is in use; standing by until it is free", metadata: [
            "slot": "\(slot.name)", "holderPID": "\(holder)"])
        var current = slot
        while current.isActive && !stop.isRequested {
            sleep(.seconds(1))
            do {
                guard let refreshed = try connection.slot(named: slot.name) else {
                    throw BridgeError(code: .slotMissing, kind: .configuration, message: "replication slot '\(slot.name)' was dropped while this WalBridge waited for it")
                }
                current = refreshed
            } catch let error as BridgeError {
                throw error
            } catch {
                throw BridgeError(.transient, "lost the connection while waiting for slot '\(slot.name)': \(error)")
            }
        }
        if !current.isActive { logger.info("replication slot is free; taking over", metadata: ["slot": "\(slot.name)"]) }
        return current
    }

    /// Status updates at least every third of the server's `wal_sender_timeout`,
    /// so a paused stream is never cut, and at least every `tuning.statusInterval`.
    private func statusInterval(_ connection: PostgresConnection) -> Duration {
        guard let text = try? connection.setting("wal_sender_timeout"), let timeout = Self.parsePostgresDuration(text),
              timeout > .zero
        else { return options.tuning.statusInterval }
        return min(options.tuning.statusInterval, max(.milliseconds(100), timeout / 3))
    }

    /// Parses a time setting as Postgres shows it (`60s`, `1min`, `500ms`, `2h`, `0`).
    static func parsePostgresDuration(_ text: String) -> Duration? {
        let digits = text.prefix { $0.isNumber }
        guard let value = Int64(digits) else { return nil }
        switch text.dropFirst(digits.count) {
        case "", "ms": return .milliseconds(value)
        case "s": return .seconds(value)
        case "min": return .seconds(value * 60)
        case "h": return .seconds(value * 3600)
        case "d": return .seconds(value * 86400)
        default: return nil
        }
    }

    private func producerConfiguration() -> KafkaProducerConfiguration {
        var properties: [String: String] = [
            // Java clients' partitioner, so keys land where Kafka Streams and Connect expect them.
            "partitioner": "murmur2_random",
            // Find a broker that came back within a second, not librdkafka's default 10 s.
            "reconnect.backoff.max.ms": "1000",
            // A broker path that stalls without closing (docs/operations.md: half-open
            // connections): a request unanswered for 30 s (librdkafka's default 60 s)
            // fails the connection, which librdkafka then reopens; keepalive probes
            // (off by default) let the kernel end a dead idle connection too.
            "socket.timeout.ms": "30000",
            "socket.keepalive.enable": "true",
            "queue.buffering.max.kbytes": String(options.tuning.maxInflightKilobytes),
            "queue.buffering.max.messages": String(options.tuning.maxInflightEvents * 2),
        ]
        properties.merge(configuration.kafka.properties) { _, user in user }
        return KafkaProducerConfiguration(bootstrapServers: configuration.kafka.bootstrapServers, properties: properties)
    }

    private func backoff(attempt: Int) -> Duration {
        let tuning = options.tuning
        let exponential = tuning.initialBackoff * (1 << min(attempt - 1, 16))
        let capped = min(exponential, tuning.maxBackoff)
        return capped * Double.random(in: 0.5...1.0)
    }

    /// Sleeps, waking early when a stop is requested.
    private func sleep(_ duration: Duration) {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while !stop.isRequested && clock.now < deadline {
            let step = min(deadline - clock.now, .milliseconds(50))
            Thread.sleep(forTimeInterval: Double(step.components.seconds) + Double(step.components.attoseconds) / 1e18)
        }
    }
}
