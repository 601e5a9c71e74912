import EventMapping
import PostgresReplication

/// What the database says about a configuration, after every check passed.
struct PreparedSource: Sendable {
    public var identity: SystemIdentity
    /// The slot, as it is after any creation (nil when it is missing and was
    /// not created: a dry run, or a start that may not create one).
    public var slot: SlotInfo?
    /// The new slot's consistent point, when this preflight created it.
    public var createdSlotAt: LSN?
    /// The server is a hot standby (decoding on a standby, Postgres 16+).
    public var isStandby = false
    /// The Kafka key columns of every table mapping, resolved (`key:` or the primary key).
    public var keyColumns: [QualifiedName: [String]]
    /// Problems that do not stop the bridge but that the user should know about.
    public var warnings: [String]
    /// What a real run would create (dry run only).
    public var wouldCreate: [String]
    /// Every mapped table's columns with their encoding (for `walbridge schema`).
    public var columns: [QualifiedName: [String: ColumnDescription]]
    /// A value decoder that knows the mapped columns' domains: hand it to the
    /// `TransactionAssembler` so domain values decode as their base type.
    public var valueDecoder: PostgresValueDecoder
}
