import EventMapping
import Foundation
import KafkaPublisher
import Logging
import PostgresReplication

/// Options of one `walbridge run` beyond the configuration file.
public struct BridgeOptions: Sendable {
    /// `--from-lsn`: republish every transaction whose end LSN is above it.
    public var fromLSN: LSN?
    public var tuning = PipelineTuning()

    public init(fromLSN: LSN? = nil) { self.fromLSN = fromLSN }
}

/// The running bridge: connects to Postgres, checks the configuration against
/// it, creates the slot and publication when missing, resumes from the
/// checkpoint, streams through a `StreamPipeline`, and reconnects with capped
/// exponential backoff and jitter after transient failures (DESIGN: restart,
/// replay, CLI). Runs on the calling thread until stopped.
public final class Bridge {
    private let configuration: BridgeConfiguration
    private let options: BridgeOptions
    private let stop: StopSignal
    private let logger: Logger
    private let metrics = BridgeMetrics()
    private let store: CheckpointStore

    /// The position to resume from after a failure within this process: the last
    /// confirmed watermark (nil until a session has started).
    private var resumeLSN: LSN?

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
        let clock = ContinuousClock()
        var attempt = 0
        while !stop.isRequested {
            let started = clock.now
            do {
                try session()
                return
            } catch where error.kind == .transient {
                if clock.now - started >= options.tuning.healthyAfter { attempt = 0 }
                attempt += 1
                metrics.reconnects.increment()
                let pause = backoff(attempt: attempt)
                logger.warning("\(error.message); reconnecting", metadata: [
                    "attempt": "\(attempt)", "retryIn": "\(pause.formatted())"])
                sleep(pause)
            }
        }
    }

    /// One connection's life: preflight, resume point, stream, drain.
    private func session() throws(BridgeError) {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: configuration.postgres.url, replication: true)
        } catch {
            throw BridgeError(error, context: "cannot connect to Postgres")
        }
        logger.info("connected to Postgres", metadata: ["server": "\(connection.safeDescription)", "version": "\(connection.serverVersion)"])
        let prepared = try SourcePreflight(configuration: configuration, logger: logger, dryRun: false).prepare(connection)
        for warning in prepared.warnings { logger.warning("\(warning)") }
        guard let slot = prepared.slot else {
            throw BridgeError(.fatal, "replication slot '\(configuration.postgres.slot)' is missing after creation")
        }
        if slot.isActive, let pid = slot.activePID {
            throw BridgeError(resumeLSN == nil ? .fatal : .transient,
                "replication slot '\(slot.name)' is in use by another connection (PID \(pid)); stop the other WalBridge, or check pg_stat_replication for that PID")
        }

        let (start, skipBelow) = try resumePoint(slot: slot, identity: prepared.identity)
        let mapper: EventMapper
        do {
            mapper = try EventMapper(configuration: configuration, keyColumns: prepared.keyColumns,
                                     systemID: prepared.identity.systemID, database: prepared.identity.database)
        } catch {
            throw BridgeError(.configuration, "\(error)")
        }
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: producerConfiguration(), logger: logger)
        } catch {
            throw BridgeError(error.isConfigurationError ? .configuration : .fatal, "cannot create the Kafka producer: \(error)")
        }
        defer { producer.close() }

        let stream: ReplicationStream
        do {
            stream = try ReplicationStream(
                connection: connection, slot: slot.name, publications: [configuration.postgres.publication],
                startLSN: start, logicalMessages: !configuration.messageMappings.isEmpty,
                statusInterval: options.tuning.statusInterval)
        } catch {
            throw BridgeError(error, context: "cannot start replication from slot '\(slot.name)'")
        }
        logger.info("streaming", metadata: [
            "slot": "\(slot.name)", "publication": "\(configuration.postgres.publication)",
            "from": "\(start)", "walsenderPID": "\(stream.walsenderPID)"])

        let checkpoints = CheckpointWriter(
            store: store, systemID: prepared.identity.systemID, slot: slot.name,
            interval: options.tuning.checkpointInterval, initial: skipBelow, metrics: metrics)
        let pipeline = StreamPipeline(
            stream: stream, producer: producer, mapper: mapper, start: start, skipBelow: skipBelow,
            checkpoints: checkpoints, tuning: options.tuning, stop: stop, logger: logger, metrics: metrics)
        do {
            _ = try pipeline.run()
        } catch {
            // Keep what Kafka acknowledged: the watermark never passes an unacknowledged event.
            resumeLSN = max(resumeLSN ?? .zero, pipeline.confirmed)
            try? checkpoints.write(pipeline.confirmed, force: true)
            throw error
        }
        logger.info("stopping: waiting for outstanding deliveries", metadata: [
            "outstanding": "\(pipeline.watermark.outstandingEvents)", "timeout": "\(configuration.shutdownTimeout.formatted())"])
        let final = try pipeline.drain(timeout: configuration.shutdownTimeout)
        resumeLSN = final
        logger.info("stopped", metadata: ["checkpoint": "\(final)"])
    }

    /// Where to start streaming and which transactions to skip as delivered.
    private func resumePoint(slot: SlotInfo, identity: SystemIdentity) throws(BridgeError) -> (start: LSN, skipBelow: LSN) {
        if let resumeLSN { return (resumeLSN, resumeLSN) }
        let slotPosition = slot.confirmedFlushLSN ?? .zero
        if let from = options.fromLSN {
            guard from >= slotPosition else {
                throw BridgeError(.configuration,
                    "--from-lsn \(from) is older than what slot '\(slot.name)' can replay; the earliest replayable LSN is \(slotPosition) (set postgres.replay_window to keep more WAL replayable)")
            }
            logger.info("replaying", metadata: ["fromLSN": "\(from)"])
            return (from, from)
        }
        let checkpoint: Checkpoint?
        do {
            checkpoint = try store.load()
        } catch {
            throw BridgeError(error.isIOFailure ? .fatal : .configuration, "\(error)")
        }
        guard let checkpoint else {
            logger.info("no checkpoint yet; starting from the slot's position", metadata: ["lsn": "\(slotPosition)"])
            return (slotPosition, slotPosition)
        }
        guard checkpoint.systemID == identity.systemID else {
            throw BridgeError(.configuration,
                "checkpoint \(store.path) belongs to Postgres system \(checkpoint.systemID), but this server is \(identity.systemID); point checkpoint.path at this database's checkpoint, or move the file away to start from the slot's position")
        }
        guard checkpoint.slot == slot.name else {
            throw BridgeError(.configuration,
                "checkpoint \(store.path) belongs to slot '\(checkpoint.slot)', not '\(slot.name)'; point checkpoint.path at this slot's checkpoint, or move the file away to start from the slot's position")
        }
        logger.info("resuming from checkpoint", metadata: ["lsn": "\(checkpoint.lsn)", "slotLSN": "\(slotPosition)"])
        return (checkpoint.lsn, checkpoint.lsn)
    }

    private func producerConfiguration() -> KafkaProducerConfiguration {
        var properties: [String: String] = [
            // Java clients' partitioner, so keys land where Kafka Streams and Connect expect them.
            "partitioner": "murmur2_random",
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
