import PostgresReplication

/// Writes the checkpoint file: the position and the backfill state delivered
/// up to it. When to write is `DeliveryCore`'s decision; this is the I/O, and
/// the backfill state the file holds (the core does not own it).
final class CheckpointWriter {
    private let store: CheckpointStore
    private let systemID: String
    private let slot: String
    private let metrics: BridgeMetrics
    /// The backfill state (and slot gap) the checkpoint file holds.
    private(set) var writtenSnapshot: SnapshotState

    /// - Parameter initialSnapshot: the backfill state the file holds now.
    init(store: CheckpointStore, systemID: String, slot: String, initialSnapshot: SnapshotState, metrics: BridgeMetrics) {
        self.store = store
        self.systemID = systemID
        self.slot = slot
        self.writtenSnapshot = initialSnapshot
        self.metrics = metrics
    }

    /// Writes `lsn` with the backfill progress delivered up to it.
    func write(_ lsn: LSN, snapshot: SnapshotState) throws(BridgeError) {
        do {
            try store.save(Checkpoint(systemID: systemID, slot: slot, lsn: lsn, snapshot: snapshot))
        } catch {
            throw BridgeError(.fatal, "\(error)")
        }
        writtenSnapshot = snapshot
        metrics.checkpoint(lsn)
    }
}
