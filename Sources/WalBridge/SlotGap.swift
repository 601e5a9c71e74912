import Foundation
import PostgresReplication

/// Changes that logical decoding can no longer give WalBridge: the slot its
/// checkpoint belongs to was lost (dropped, or Postgres failed over to a server
/// that never had it) and `walbridge run --recreate-slot` started from a new
/// one. Every transaction that ended after `checkpointLSN` and at or before
/// `slotLSN` was never published.
///
/// Stored in the checkpoint (`"gap": {…}`) until the backfill started for it
/// is fully delivered: from then on every key's last event matches its table
/// again. With no table mapping that can be backfilled (`backfillJobID` nil),
/// nothing can heal it: it stays recorded, for `status` and the operator.
public struct SlotGap: Sendable, Hashable {
    /// The checkpoint's position when the loss was found: the end of the last transaction delivered.
    public var checkpointLSN: LSN
    /// Where the new (or adopted) slot starts.
    public var slotLSN: LSN
    /// When `--recreate-slot` recorded the gap.
    public var detectedAt: Date
    /// The snapshot job that brings consumers back to the tables' state, or nil when no mapping can be backfilled.
    public var backfillJobID: String?

    public init(checkpointLSN: LSN, slotLSN: LSN, detectedAt: Date = Date(), backfillJobID: String?) {
        self.checkpointLSN = checkpointLSN
        self.slotLSN = slotLSN
        self.detectedAt = detectedAt
        self.backfillJobID = backfillJobID
    }

    /// WAL bytes between the two positions (what logical decoding skipped).
    public var bytes: UInt64 { slotLSN > checkpointLSN ? slotLSN.value - checkpointLSN.value : 0 }

    /// True while the backfill that heals the gap is not yet delivered.
    public var isHealing: Bool { backfillJobID != nil }

    /// One line for logs, `status` and `/readyz`.
    public var summary: String {
        "changes between \(checkpointLSN) and \(slotLSN) were lost with the old replication slot (recorded \(detectedAt.formatted(.iso8601)))"
            + (backfillJobID.map { "; backfill job \($0) brings every mapped table's keys back to the table's state" }
                ?? "; no mapping can be backfilled, so consumers stay without those changes")
    }

    // MARK: - JSON (the checkpoint's `gap` object)

    var jsonObject: [String: Any] {
        var object: [String: Any] = [
            "checkpointLsn": checkpointLSN.description, "slotLsn": slotLSN.description,
            "detectedAt": detectedAt.formatted(.iso8601),
        ]
        object["backfillJob"] = backfillJobID ?? NSNull()
        return object
    }

    init?(jsonObject object: [String: Any]) {
        guard let from = (object["checkpointLsn"] as? String).flatMap(LSN.init),
              let to = (object["slotLsn"] as? String).flatMap(LSN.init),
              let detected = (object["detectedAt"] as? String).flatMap({ try? Date($0, strategy: .iso8601) })
        else { return nil }
        let job = object["backfillJob"]
        guard job == nil || job is NSNull || job is String else { return nil }
        self.init(checkpointLSN: from, slotLSN: to, detectedAt: detected, backfillJobID: job as? String)
    }
}
