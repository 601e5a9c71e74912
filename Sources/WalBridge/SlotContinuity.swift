import PostgresReplication

/// Whether the replication slot found at start still holds every change after
/// the checkpoint, decided from positions alone (a pure rule, unit-tested).
///
/// WalBridge confirms to its slot only positions already written to its
/// checkpoint file (see `StreamPipeline.checkpointIfDue`), so its own slot is
/// never ahead of the checkpoint. A missing slot, a slot created just now, or a
/// slot ahead of the checkpoint therefore means the changes after the
/// checkpoint are gone from logical decoding: streaming on would skip them.
enum SlotContinuity: Equatable {
    /// Nothing was delivered from any slot yet (no checkpoint): any slot will do.
    case firstStart
    /// The slot holds every change after the checkpoint.
    case continues
    /// The slot does not exist (dropped, or Postgres failed over to a server that never had it).
    case missing(checkpointLSN: LSN)
    /// The slot exists but starts after the checkpoint: it is not the slot the
    /// checkpoint was written with, and the changes in between are lost.
    case gap(checkpointLSN: LSN, slotLSN: LSN)

    /// - Parameters:
    ///   - checkpointLSN: the position delivered so far (the checkpoint file's, or this
    ///     process's own after a reconnect); nil when nothing was delivered yet.
    ///   - slotFollowsCheckpoint: the checkpoint was written by a WalBridge that confirms
    ///     only checkpointed positions (false for files of earlier versions, whose slot
    ///     may legitimately be ahead of the file after a crash).
    ///   - slotLSN: the slot's `confirmed_flush_lsn` (or its consistent point when it was
    ///     created just now); nil when the slot does not exist.
    ///   - createdNow: the slot was created by this start.
    static func check(checkpointLSN: LSN?, slotFollowsCheckpoint: Bool, slotLSN: LSN?, createdNow: Bool) -> SlotContinuity {
        guard let checkpointLSN else { return .firstStart }
        guard let slotLSN else { return .missing(checkpointLSN: checkpointLSN) }
        if createdNow { return .gap(checkpointLSN: checkpointLSN, slotLSN: max(slotLSN, checkpointLSN)) }
        if slotFollowsCheckpoint && slotLSN > checkpointLSN { return .gap(checkpointLSN: checkpointLSN, slotLSN: slotLSN) }
        return .continues
    }

    /// The refusal `run` exits 2 with, naming the slot, the positions and the remedies.
    static func refusal(_ continuity: SlotContinuity, slot: String, checkpointPath: String) -> String? {
        let remedies = "If Postgres failed over, point postgres.url at the server that has the slot. "
            + "To go on knowingly, run `walbridge run --recreate-slot`: it records the gap in the checkpoint, logs it, "
            + "and backfills the mapped tables so every key's last event matches its table again "
            + "(deletes made during the gap are not published as events; see docs/operations.md, \"Lost slot\"). "
            + "Or move \(checkpointPath) away to start from the slot's position with no backfill."
        switch continuity {
        case .firstStart, .continues:
            return nil
        case .missing(let checkpointLSN):
            return "replication slot '\(slot)' does not exist, but checkpoint \(checkpointPath) says changes up to "
                + "\(checkpointLSN) were delivered from it: the slot was dropped (or Postgres failed over to a server that "
                + "never had it), so the changes committed since \(checkpointLSN) can no longer be decoded, and creating a new "
                + "slot would skip them silently. " + remedies
        case .gap(let checkpointLSN, let slotLSN):
            return "replication slot '\(slot)' is at \(slotLSN), ahead of checkpoint \(checkpointPath) at \(checkpointLSN); "
                + "WalBridge never confirms its slot past its checkpoint, so this is another slot (dropped and created again, "
                + "or advanced by hand), and the changes between \(checkpointLSN) and \(slotLSN) are gone from logical decoding. "
                + remedies
        }
    }
}
