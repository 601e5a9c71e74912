import PostgresReplication

/// Where the rows of one snapshot (backfill) chunk come from: the job, and the
/// watermark transaction the chunk is published with (its commit LSN, time and
/// xid become the events' `source.lsn`, `occurredAt` and `source.txId`).
public struct SnapshotEventContext: Sendable {
    /// The job's id: with the table and the key, it names each event's id.
    public var jobID: String
    public var transaction: TransactionInfo

    public init(jobID: String, transaction: TransactionInfo) {
        self.jobID = jobID
        self.transaction = transaction
    }
}

extension EventMapper {
    /// Maps one row read by a snapshot to its snapshot event: the mapping's
    /// snapshot event type, `"snapshot": true` in `source`, and the same key,
    /// fields and encodings as a streamed insert. Nil when the table is not a
    /// table mapping or the mapping has no snapshot (or insert) event.
    ///
    /// The event id is the UUIDv5 of `<systemid>/<database>/snapshot/<job id>/<schema.table>/<key>`:
    /// a chunk published again after a restart carries the same ids, and a new
    /// job (a later re-sync) new ones.
    public func mapSnapshotRow(_ row: Row, relation: Relation, context: SnapshotEventContext) throws(MappingError) -> EventRecord? {
        guard case .table(let compiled) = tables[QualifiedName(schema: relation.schema, table: relation.name)] else { return nil }
        let change = RowChange(operation: .insert, relation: relation, new: row, old: nil, oldKind: nil, ordinal: 0)
        return try mapTableChange(change, compiled: compiled, transaction: context.transaction, snapshot: context).first
    }

    /// The Kafka keys a streamed change touches on a table mapping: the new
    /// row's and, when it differs (a key update) or there is no new row, the old
    /// one's. Empty for unmapped tables and rows without their key columns.
    /// The snapshot drops a chunk's rows under these keys (DBLog's window).
    public func touchedKeys(_ change: RowChange) -> [[UInt8]] {
        guard case .table(let compiled) = tables[QualifiedName(schema: change.relation.schema, table: change.relation.name)] else { return [] }
        let indexes = compiled.columnIndexes(in: change.relation)
        var keys: [[UInt8]] = []
        guard compiled.keyPositions.allSatisfy({ indexes[$0] != nil }) else { return [] }
        for row in [change.new, change.old] {
            guard let row, row.count == change.relation.columns.count else { continue }
            // `keyBytes` reads the key positions only, and each has an index.
            if let key = try? keyBytes(compiled: compiled, slot: { Self.slot(row[indexes[$0]!]) }, fail: { reason throws(MappingError) in
                throw MappingError(table: compiled.mapping.table, operation: "key", reason: reason)
            }), !keys.contains(key) {
                keys.append(key)
            }
        }
        return keys
    }

    /// The id of a snapshot event (see `mapSnapshotRow`).
    func snapshotEventID(jobID: String, table: QualifiedName, key: [UInt8]) -> String {
        var name = idPrefix
        name.append(contentsOf: "snapshot/\(jobID)/\(table.schema).\(table.table)/".utf8)
        name.append(contentsOf: key)
        return UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: name)
    }
}
