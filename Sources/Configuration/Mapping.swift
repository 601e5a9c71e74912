import PostgresReplication

/// One entry of `mappings:`, by its `kind`.
public enum Mapping: Sendable, Hashable {
    /// `kind: table` (the default): row changes of a table become events.
    case table(TableMapping)
    /// `kind: outbox`: inserted rows of an outbox table become events.
    case outbox(OutboxMapping)
    /// `kind: message`: logical-decoding messages with a prefix become events.
    case message(MessageMapping)

    /// The table the mapping reads; nil for a message mapping.
    public var table: QualifiedName? {
        switch self {
        case .table(let mapping): mapping.table
        case .outbox(let mapping): mapping.table
        case .message: nil
        }
    }

    /// The mapping's position in `mappings:` (0-based), for messages.
    public var index: Int {
        switch self {
        case .table(let mapping): mapping.index
        case .outbox(let mapping): mapping.index
        case .message(let mapping): mapping.index
        }
    }

    /// The YAML `kind` value.
    public var kind: String {
        switch self {
        case .table: "table"
        case .outbox: "outbox"
        case .message: "message"
        }
    }
}

/// One column of a table published under a field name (`first_name: firstName`),
/// optionally transformed (`email: {as: emailHash, hash: hmac-sha256, key: ...}`).
public struct FieldMapping: Sendable, Hashable {
    /// The column's name in the table.
    public var column: String
    /// The field name in the event's `data`.
    public var field: String
    /// What is published instead of the value, if anything (docs/configuration.md, "Field transforms").
    public var transform: FieldTransform?
    public init(column: String, field: String, transform: FieldTransform? = nil) {
        self.column = column
        self.field = field
        self.transform = transform
    }
}

/// A transform of a published field's value, for personal data. NULL stays null.
public enum FieldTransform: Sendable, Hashable, CustomStringConvertible {
    /// `hash: hmac-sha256`: the lowercase hex HMAC-SHA256 of the value's text.
    case hmacSHA256(key: SecretKey)
    /// `mask: last4`: every character of the value's text but the last 4 replaced by `*`.
    case maskLast4

    /// The YAML spelling, without the key.
    public var description: String {
        switch self {
        case .hmacSHA256: "hash: hmac-sha256"
        case .maskLast4: "mask: last4"
        }
    }
}

/// Secret bytes (an HMAC key). Its description, debug description and mirror
/// show `***`, so printing a configuration never shows it.
public struct SecretKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key: the UTF-8 of the configured text.
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "***" }
    public var debugDescription: String { "***" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// One rule of `events.update` given as a list: the first rule whose `when`
/// holds names the event; an update no rule matches publishes nothing.
public struct UpdateRule: Sendable, Hashable {
    /// `event`.
    public var eventType: String
    /// `when.set`: source columns whose old value is NULL and new value is not.
    public var set: [String]
    /// `when.cleared`: source columns whose old value is not NULL and new value is NULL.
    public var cleared: [String]
    /// `when.changed`: source columns of which at least one changed.
    public var changed: [String]
    /// `fields`: the published field names the event carries; nil means every mapped field.
    public var fields: [String]?

    public init(eventType: String, set: [String] = [], cleared: [String] = [], changed: [String] = [], fields: [String]? = nil) {
        self.eventType = eventType
        self.set = set
        self.cleared = cleared
        self.changed = changed
        self.fields = fields
    }

    /// True for a rule without `when`: it matches every update.
    public var matchesEveryUpdate: Bool { self.set.isEmpty && cleared.isEmpty && changed.isEmpty }

    /// The source columns the rule names, each once.
    public var columns: [String] {
        var result: [String] = []
        for column in self.set + cleared + changed where !result.contains(column) { result.append(column) }
        return result
    }
}

/// What a `truncate` of the table does: `truncate: skip` or `truncate: EventName`.
public enum TruncatePolicy: Sendable, Hashable {
    /// Nothing is published (the default).
    case skip
    /// An event of this type is published.
    case publish(eventType: String)
}

/// `snapshot:` of a table mapping: whether and how existing rows are backfilled.
public struct SnapshotSettings: Sendable, Hashable {
    /// `mode`.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Only `walbridge snapshot` backfills (the default).
        case never
        /// Backfill once when the mapping is first run.
        case initial
    }

    public var mode: Mode
    /// `event`: the snapshot event type; nil means the mapping's insert event.
    public var eventType: String?
    /// `chunk_size`: rows per chunk (default 10000).
    public var chunkSize: Int

    public init(mode: Mode = .never, eventType: String? = nil, chunkSize: Int = 10_000) {
        self.mode = mode
        self.eventType = eventType
        self.chunkSize = chunkSize
    }
}

/// `kind: table`: inserts, updates and deletes of a table become named events
/// carrying only the allowlisted, renamed `fields`.
public struct TableMapping: Sendable, Hashable {
    /// `events:` — the event type per operation; a nil operation is not published.
    public struct Events: Sendable, Hashable {
        public var insert: String?
        /// `update: EventName` (nil when `update` is a list of rules).
        public var update: String?
        public var delete: String?
        /// `update:` as a list of rules, in order; empty when `update` is a name or absent.
        public var updateRules: [UpdateRule]
        public init(insert: String? = nil, update: String? = nil, delete: String? = nil, updateRules: [UpdateRule] = []) {
            self.insert = insert
            self.update = update
            self.delete = delete
            self.updateRules = updateRules
        }

        /// True when some update may publish an event (a name or at least one rule).
        public var publishesUpdates: Bool { update != nil || !updateRules.isEmpty }
    }

    /// Position in `mappings:` (0-based).
    public var index: Int
    /// `table`.
    public var table: QualifiedName
    /// `topic`.
    public var topic: String
    /// `key`: the key's column names, in order. nil means "the table's primary
    /// key", which the caller resolves against the database and hands to
    /// `EventMapper` (see `EventMapper.init`).
    public var key: [String]?
    public var events: Events
    /// `fields`, in file order: the allowlist of published columns.
    public var fields: [FieldMapping]
    /// `where`: a publication row filter (SQL), if any.
    public var rowFilter: String?
    /// `schema_version` (default 1).
    public var schemaVersion: Int
    /// `tombstones` (default false): a nil-value record after each delete event.
    public var tombstones: Bool
    /// `truncate` (default `skip`).
    public var truncate: TruncatePolicy
    /// `snapshot`.
    public var snapshot: SnapshotSettings
    /// `skip_unchanged` (default false): an update that changes none of
    /// `readColumns` publishes nothing.
    public var skipUnchanged: Bool
    /// `format` (else `kafka.format`, else `walbridge`): the shape of the published records.
    public var format: EventFormat = .walbridge
    /// `cloudevents:` — the CloudEvents `source` and `type` prefix (the two CloudEvents formats).
    public var cloudEvents: CloudEventsSettings = .init()

    public init(
        index: Int = 0, table: QualifiedName, topic: String, key: [String]? = nil, events: Events,
        fields: [FieldMapping], rowFilter: String? = nil, schemaVersion: Int = 1, tombstones: Bool = false,
        truncate: TruncatePolicy = .skip, snapshot: SnapshotSettings = .init(), skipUnchanged: Bool = false
    ) {
        self.index = index
        self.table = table
        self.topic = topic
        self.key = key
        self.events = events
        self.fields = fields
        self.rowFilter = rowFilter
        self.schemaVersion = schemaVersion
        self.tombstones = tombstones
        self.truncate = truncate
        self.snapshot = snapshot
        self.skipUnchanged = skipUnchanged
    }

    /// The source columns the update rules name that are not in `fields`, each once.
    public var ruleOnlyColumns: [String] {
        var result: [String] = []
        for rule in events.updateRules {
            for column in rule.columns where !result.contains(column) && field(forColumn: column) == nil {
                result.append(column)
            }
        }
        return result
    }

    /// The columns the mapping reads: its `fields` and the columns its update rules name.
    public var readColumns: [String] { fields.map(\.column) + ruleOnlyColumns }

    /// True when mapping an update needs the old row (`REPLICA IDENTITY FULL`):
    /// `skip_unchanged`, or an update rule with `when`.
    public var needsOldRow: Bool {
        skipUnchanged || events.updateRules.contains { !$0.matchesEveryUpdate }
    }

    /// The published name of a column, or nil when it is not published.
    public func field(forColumn column: String) -> String? {
        fields.first { $0.column == column }?.field
    }

    /// The event type for an operation, or nil when it is not published.
    public func eventType(for operation: RowChange.Operation) -> String? {
        switch operation {
        case .insert: events.insert
        case .update: events.update
        case .delete: events.delete
        }
    }

    /// The snapshot event type: `snapshot.event`, else the insert event.
    public var snapshotEventType: String? { snapshot.eventType ?? events.insert }
}

/// `format:` — how a table mapping's changes are written as Kafka records.
public enum EventFormat: String, Sendable, Hashable, CaseIterable {
    /// WalBridge's envelope (the default).
    case walbridge
    /// CloudEvents 1.0, Kafka protocol binding, binary content mode: `ce_` headers, `data` as the value.
    case cloudevents
    /// CloudEvents 1.0, Kafka protocol binding, structured content mode: an `application/cloudevents+json` value.
    case cloudeventsStructured = "cloudevents-structured"
    /// The value and key of Debezium's PostgreSQL connector (JSON converter, no schemas).
    case debezium
}

/// A table mapping's `cloudevents: {source: ..., type_prefix: ...}`.
public struct CloudEventsSettings: Sendable, Hashable {
    /// `source`; nil means `/walbridge/<database>/<schema>.<table>`.
    public var source: String?
    /// `type_prefix` (default empty): put before the event name in `type`.
    public var typePrefix: String
    public init(source: String? = nil, typePrefix: String = "") {
        self.source = source
        self.typePrefix = typePrefix
    }
}

/// `kind: outbox`: each inserted row of an outbox table becomes one event
/// whose type, key and data come from the row; updates and deletes publish nothing.
public struct OutboxMapping: Sendable, Hashable {
    /// `outbox:` — the outbox table's column names.
    public struct Columns: Sendable, Hashable {
        /// Default `aggregatetype`.
        public var aggregateType: String
        /// Default `aggregateid`; its value is the Kafka key.
        public var aggregateID: String
        /// Default `type`; its value is the event type.
        public var eventType: String
        /// Default `payload`; its JSON is the event's `data`.
        public var payload: String
        public init(aggregateType: String = "aggregatetype", aggregateID: String = "aggregateid",
                    eventType: String = "type", payload: String = "payload") {
            self.aggregateType = aggregateType
            self.aggregateID = aggregateID
            self.eventType = eventType
            self.payload = payload
        }
    }

    /// The placeholder a topic may contain.
    public static let aggregateTypePlaceholder = "{aggregate_type}"

    public var index: Int
    public var table: QualifiedName
    /// `topic`, possibly containing `{aggregate_type}`.
    public var topic: String
    public var columns: Columns
    /// `where`.
    public var rowFilter: String?
    /// `schema_version` (default 1).
    public var schemaVersion: Int

    public init(index: Int = 0, table: QualifiedName, topic: String, columns: Columns = .init(),
                rowFilter: String? = nil, schemaVersion: Int = 1) {
        self.index = index
        self.table = table
        self.topic = topic
        self.columns = columns
        self.rowFilter = rowFilter
        self.schemaVersion = schemaVersion
    }

    /// The topic for one aggregate type (the placeholder replaced).
    public func topic(forAggregateType aggregateType: String) -> String {
        guard topic.contains("{") else { return topic }
        var result = ""
        var rest = Substring(topic)
        while let range = rest.firstRange(of: Self.aggregateTypePlaceholder) {
            result += rest[..<range.lowerBound]
            result += aggregateType
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

/// `kind: message`: logical-decoding messages (`pg_logical_emit_message`) with
/// a prefix become events whose `data` is the message's JSON content.
public struct MessageMapping: Sendable, Hashable {
    public var index: Int
    /// `prefix`.
    public var prefix: String
    /// `topic`.
    public var topic: String
    /// `event`: the event type.
    public var eventType: String
    /// `schema_version` (default 1).
    public var schemaVersion: Int

    public init(index: Int = 0, prefix: String, topic: String, eventType: String, schemaVersion: Int = 1) {
        self.index = index
        self.prefix = prefix
        self.topic = topic
        self.eventType = eventType
        self.schemaVersion = schemaVersion
    }
}
