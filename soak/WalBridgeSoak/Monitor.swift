import Foundation
import KafkaPublisher
import PostgresReplication
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One look at the checkpoint and the partitions' end offsets, taken in that
/// order: every event whose commit LSN is below `checkpoint` must already be
/// at an offset below `ends` (it was acknowledged before the checkpoint moved).
struct CheckpointSample: Sendable {
    let at: Double
    let checkpoint: UInt64
    let ends: [[Int64]]  // per table, per partition
}

/// Polls the checkpoint file and the end offsets together (every 250 ms),
/// and the slot's `confirmed_flush_lsn` for the recovery times.
final class Monitor: Sendable {
    private let checkpointPath: String
    private let bootstrap: String
    private let topics: [(String, Int32)]
    private let adminURL: String
    private let slot: String
    private let recoveries: Recoveries
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let collected = Mutex<[CheckpointSample]>([])
    private let confirmed = Mutex<UInt64>(0)
    private let failedSamples = Atomic<Int>(0)

    init(checkpointPath: String, bootstrap: String, topics: [(String, Int32)], adminURL: String, slot: String, recoveries: Recoveries) {
        self.checkpointPath = checkpointPath
        self.bootstrap = bootstrap
        self.topics = topics
        self.adminURL = adminURL
        self.slot = slot
        self.recoveries = recoveries
    }

    /// WALBRIDGE_SOAK_CHECKPOINT_SKEW=BYTES: pretend each sampled checkpoint is
    /// that far ahead, so a run must report "checkpoint ahead" (the check's own
    /// test; never set in CI).
    static let checkpointSkew = UInt64(ProcessInfo.processInfo.environment["WALBRIDGE_SOAK_CHECKPOINT_SKEW"] ?? "") ?? 0

    static let checkpointLSNField = Array("\"lsn\": \"".utf8)

    /// The checkpoint file's LSN and whether it holds an unfinished backfill job.
    static func readCheckpoint(_ path: String) -> (lsn: UInt64, job: Bool)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        guard let text = Scan.string(after: checkpointLSNField, in: bytes), let lsn = LSN(text) else { return nil }
        return (lsn.value, Scan.contains(bytes, Array("\"job\":".utf8)))
    }

    var samples: [CheckpointSample] { collected.withLock { $0 } }
    var skippedSamples: Int { failedSamples.load(ordering: .relaxed) }
    var slotConfirmed: UInt64 { confirmed.withLock { $0 } }

    func start() { Thread { [self] in run() }.start() }

    func stop() {
        stopping.store(true, ordering: .releasing)
        finished.wait()
    }

    private func run() {
        defer { finished.signal() }
        guard let consumer = try? KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrap, clientID: "walbridge-soak-monitor"), logger: quietLogger)
        else { return }
        var connection: PostgresConnection?
        while !stopping.load(ordering: .acquiring) {
            usleep(250_000)
            if let checkpoint = Self.readCheckpoint(checkpointPath) {
                do {
                    var ends: [[Int64]] = []
                    for (topic, partitions) in topics {
                        ends.append(try consumer.endOffsets(topic: topic, partitions: Array(0..<partitions), timeoutMilliseconds: 1_000))
                    }
                    let sample = CheckpointSample(at: elapsed(), checkpoint: checkpoint.lsn &+ Self.checkpointSkew, ends: ends)
                    collected.withLock { $0.append(sample) }
                } catch {
                    failedSamples.add(1, ordering: .relaxed)  // broker down or slow: no sample this time
                }
            }
            if connection == nil {
                connection = try? PostgresConnection(url: adminURL, replication: false, applicationName: "walbridge-soak-monitor", connectTimeoutSeconds: 2)
            }
            if let c = connection {
                if let text = try? c.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'").rows.first?[0],
                   let lsn = LSN(text) {
                    confirmed.withLock { $0 = lsn.value }
                    recoveries.slotConfirmed(lsn.value, at: elapsed())
                } else {
                    connection = nil
                }
            }
        }
        consumer.close()
    }
}
