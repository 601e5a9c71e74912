import PostgresReplication
import Yams

/// Reads and checks the `mappings:` list.
package struct MappingDecoder {
    let reader: YAMLReader
    /// `kafka.format`: the format of a table mapping without `format:`.
    var defaultFormat: EventFormat = .walbridge

    static let tableKeys = ["kind", "table", "topic", "key", "events", "fields", "where", "schema_version", "tombstones", "truncate", "snapshot", "skip_unchanged", "format", "cloudevents"]
    static let outboxKeys = ["kind", "table", "topic", "outbox", "where", "schema_version"]
    static let messageKeys = ["kind", "prefix", "topic", "event", "schema_version"]
    static let kinds = ["table", "outbox", "message"]

    func decodeAll(_ node: Node) throws(ConfigurationError) -> [Mapping] {
        guard case .sequence(let sequence) = node else {
            throw reader.error(.wrongType, "mappings", node,
                               "expected a list of mappings (each item starting with '- table:'), found \(YAMLReader.describe(node))")
        }
        guard !sequence.isEmpty else {
            throw reader.error(.invalidValue, "mappings", node, "the list is empty; map at least one table")
        }
        var mappings: [Mapping] = []
        var tables: [QualifiedName: Int] = [:]
        var prefixes: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "mappings[\(index)]"
            let mapping = try decode(item, index: index, path: path)
            if let table = mapping.table {
                if let first = tables[table] {
                    throw reader.error(.invalidValue, path + ".table", item,
                                       "table \(table) is already mapped by mappings[\(first)]; map each table once")
                }
                tables[table] = index
            }
            if case .message(let message) = mapping {
                if let first = prefixes[message.prefix] {
                    throw reader.error(.invalidValue, path + ".prefix", item,
                                       "prefix '\(message.prefix)' is already mapped by mappings[\(first)]; map each prefix once")
                }
                prefixes[message.prefix] = index
            }
            mappings.append(mapping)
        }
        return mappings
    }

    func decode(_ node: Node, index: Int, path: String) throws(ConfigurationError) -> Mapping {
        let entries = try reader.entries(node, path)
        var kind = "table"
        if let kindEntry = entries.first(where: { $0.key == "kind" }), !YAMLReader.isNull(kindEntry.value) {
            kind = try reader.text(kindEntry.value, kindEntry.path, expected: "table, outbox or message")
            guard Self.kinds.contains(kind) else {
                var message = "'\(kind)' is not a mapping kind; write table (the default), outbox or message"
                if let closest = Levenshtein.closest(to: kind, in: Self.kinds), closest.distance <= 3 {
                    message += " (did you mean '\(closest.candidate)'?)"
                }
                throw reader.error(.invalidValue, kindEntry.path, kindEntry.value, message)
            }
        }
        let allowed = switch kind {
        case "outbox": Self.outboxKeys
        case "message": Self.messageKeys
        default: Self.tableKeys
        }
        let everyKey = Self.tableKeys + Self.outboxKeys + Self.messageKeys
        for entry in entries where !allowed.contains(entry.key) {
            if everyKey.contains(entry.key) {
                throw reader.error(.unknownKey(key: entry.key, suggestion: nil), path, entry.keyNode,
                                   "key '\(entry.key)' does not apply to a mapping of kind \(kind); remove it, or set kind to the one it belongs to")
            }
            throw reader.unknownKey(entry, allowed: allowed, in: path, place: "in \(path)")
        }
        let fields = MappingFields(entries: entries)
        switch kind {
        case "outbox": return .outbox(try decodeOutbox(node, fields, index: index, path: path))
        case "message": return .message(try decodeMessage(node, fields, index: index, path: path))
        default: return .table(try decodeTable(node, fields, index: index, path: path))
        }
    }

    // MARK: Shared pieces

    func table(_ node: Node, _ fields: MappingFields, path: String) throws(ConfigurationError) -> QualifiedName {
        let entry = try reader.required(fields.entries, "table", in: path, node,
                                        hint: "write table: schema.table (for example public.users)")
        let text = try reader.string(entry.value, entry.path)
        do {
            return try QualifiedName.parse(text)
        } catch {
            throw reader.error(.invalidValue, entry.path, entry.value,
                               "'\(text)' is not a table name: \(error); write schema.table, quoting a part as in SQL: '\"My Schema\".\"My Table\"'")
        }
    }

    func topic(_ node: Node, _ fields: MappingFields, path: String, allowPlaceholder: Bool = false) throws(ConfigurationError) -> String {
        let entry = try reader.required(fields.entries, "topic", in: path, node, hint: "write topic: the Kafka topic to publish to")
        let topic = try reader.string(entry.value, entry.path)
        var checked = topic
        if allowPlaceholder {
            checked = OutboxMapping(table: .init(schema: "", table: ""), topic: topic).topic(forAggregateType: "x")
        }
        if let problem = KafkaTopicName.problem(checked) {
            let extra = allowPlaceholder ? " (besides the placeholder {aggregate_type})" : ""
            throw reader.error(.invalidValue, entry.path, entry.value, problem + extra)
        }
        return topic
    }

    func schemaVersion(_ fields: MappingFields) throws(ConfigurationError) -> Int {
        guard let entry = fields["schema_version"] else { return 1 }
        return try reader.int(entry.value, entry.path, range: 1...Int(Int32.max))
    }

    func rowFilter(_ fields: MappingFields) throws(ConfigurationError) -> String? {
        guard let entry = fields["where"] else { return nil }
        return try reader.string(entry.value, entry.path)
    }

    func eventName(_ entry: YAMLReader.Entry) throws(ConfigurationError) -> String {
        let name = try reader.string(entry.value, entry.path)
        guard name.trimmingSpaces == name else {
            throw reader.error(.invalidValue, entry.path, entry.value, "the event name '\(name)' has leading or trailing spaces; remove them")
        }
        return name
    }

    // MARK: Kinds

    func decodeOutbox(_ node: Node, _ fields: MappingFields, index: Int, path: String) throws(ConfigurationError) -> OutboxMapping {
        var columns = OutboxMapping.Columns()
        if let entry = fields["outbox"] {
            let section = try reader.entries(entry.value, entry.path)
            try reader.checkKeys(section, allowed: ["aggregate_type", "aggregate_id", "event_type", "payload"],
                                 in: entry.path, place: "in \(entry.path)")
            for column in section where !YAMLReader.isNull(column.value) {
                let name = try reader.string(column.value, column.path)
                switch column.key {
                case "aggregate_type": columns.aggregateType = name
                case "aggregate_id": columns.aggregateID = name
                case "event_type": columns.eventType = name
                default: columns.payload = name
                }
            }
            let names = [columns.aggregateType, columns.aggregateID, columns.eventType, columns.payload]
            if Set(names).count != names.count {
                throw reader.error(.invalidValue, entry.path, entry.value,
                                   "aggregate_type, aggregate_id, event_type and payload must name four different columns")
            }
        }
        return OutboxMapping(
            index: index, table: try table(node, fields, path: path),
            topic: try topic(node, fields, path: path, allowPlaceholder: true), columns: columns,
            rowFilter: try rowFilter(fields), schemaVersion: try schemaVersion(fields))
    }

    func decodeMessage(_ node: Node, _ fields: MappingFields, index: Int, path: String) throws(ConfigurationError) -> MessageMapping {
        let prefixEntry = try reader.required(fields.entries, "prefix", in: path, node,
                                              hint: "write prefix: the prefix given to pg_logical_emit_message (for example walbridge)")
        let eventEntry = try reader.required(fields.entries, "event", in: path, node, hint: "write event: the event type to publish")
        return MessageMapping(
            index: index, prefix: try reader.string(prefixEntry.value, prefixEntry.path),
            topic: try topic(node, fields, path: path), eventType: try eventName(eventEntry),
            schemaVersion: try schemaVersion(fields))
    }

    func decodeTable(_ node: Node, _ fields: MappingFields, index: Int, path: String) throws(ConfigurationError) -> TableMapping {
        let table = try table(node, fields, path: path)
        let topic = try topic(node, fields, path: path)
        let fieldList = try decodeFields(node, fields, path: path)
        let events = try decodeEvents(node, fields, path: path, published: fieldList.map(\.field))

        var key: [String]?
        if let entry = fields["key"] {
            let columns = try reader.stringList(entry.value, entry.path)
            guard !columns.isEmpty else {
                throw reader.error(.invalidValue, entry.path, entry.value,
                                   "the key list is empty; list its columns, or remove key to use the primary key")
            }
            for (position, column) in columns.enumerated() {
                if columns[..<position].contains(column) {
                    throw reader.error(.invalidValue, entry.path + "[\(position)]", entry.value, "column '\(column)' is listed twice")
                }
                guard fieldList.contains(where: { $0.column == column }) else {
                    throw reader.error(.invalidValue, entry.path + "[\(position)]", entry.value,
                                       "key column '\(column)' is not listed in \(path).fields; the key is published, so add it to fields")
                }
                if let field = fieldList.first(where: { $0.column == column }), field.transform != nil {
                    throw reader.error(.invalidValue, entry.path + "[\(position)]", entry.value, Self.transformedKeyMessage(column: column))
                }
            }
            key = columns
        }

        var mapping = TableMapping(index: index, table: table, topic: topic, key: key, events: events, fields: fieldList)
        mapping.rowFilter = try rowFilter(fields)
        mapping.schemaVersion = try schemaVersion(fields)
        if let entry = fields["tombstones"] {
            mapping.tombstones = try reader.bool(entry.value, entry.path)
            if mapping.tombstones && events.delete == nil {
                throw reader.error(.invalidValue, entry.path, entry.value,
                                   "tombstones follow delete events, but \(path).events has no delete; add events.delete or set tombstones: false")
            }
        }
        if let entry = fields["truncate"] {
            let value = try eventName(entry)
            mapping.truncate = value == "skip" ? .skip : .publish(eventType: value)
        }
        if let entry = fields["snapshot"] {
            mapping.snapshot = try decodeSnapshot(entry, events: events, path: path)
        }
        if let entry = fields["skip_unchanged"] {
            mapping.skipUnchanged = try reader.bool(entry.value, entry.path)
            if mapping.skipUnchanged && !events.publishesUpdates {
                throw reader.error(.invalidValue, entry.path, entry.value,
                                   "skip_unchanged applies to update events, but \(path).events has no update; add events.update or remove skip_unchanged")
            }
        }
        mapping.format = defaultFormat
        if let entry = fields["format"], !YAMLReader.isNull(entry.value) {
            mapping.format = try reader.choice(entry.value, entry.path, EventFormat.self)
        }
        if let entry = fields["cloudevents"], !YAMLReader.isNull(entry.value) {
            guard mapping.format == .cloudevents || mapping.format == .cloudeventsStructured else {
                throw reader.error(.invalidValue, entry.path, entry.value,
                                   "cloudevents settings apply to the cloudevents formats, but \(path) is published as \(mapping.format.rawValue); set format: cloudevents (or cloudevents-structured), or remove cloudevents")
            }
            let section = try reader.entries(entry.value, entry.path)
            try reader.checkKeys(section, allowed: ["source", "type_prefix"], in: entry.path, place: "in \(entry.path)")
            for item in section where !YAMLReader.isNull(item.value) {
                let text = try reader.string(item.value, item.path)
                if item.key == "source" {
                    guard !text.isEmpty else {
                        throw reader.error(.invalidValue, item.path, item.value, "the CloudEvents source must not be empty; write a URI reference such as /auth/users, or remove source")
                    }
                    mapping.cloudEvents.source = text
                } else {
                    mapping.cloudEvents.typePrefix = text
                }
            }
        }
        return mapping
    }

    /// Why a key column cannot be transformed (also said when the primary key is resolved).
    package static func transformedKeyMessage(column: String) -> String {
        "key column '\(column)' has a transform (hash or mask); the Kafka key is published untransformed and a masked key would put different rows under one key, so a key column cannot be transformed: key the events by another column, or publish this one untransformed"
    }

    func decodeEvents(_ node: Node, _ fields: MappingFields, path: String, published: [String]) throws(ConfigurationError) -> TableMapping.Events {
        let entry = try reader.required(fields.entries, "events", in: path, node,
                                        hint: "write events: {insert: EventName, update: EventName, delete: EventName} (any of the three)")
        let section = try reader.entries(entry.value, entry.path)
        try reader.checkKeys(section, allowed: ["insert", "update", "delete"], in: entry.path, place: "in \(entry.path)")
        var events = TableMapping.Events()
        for item in section where !YAMLReader.isNull(item.value) {
            if item.key == "update", case .sequence = item.value {
                events.updateRules = try decodeUpdateRules(item, published: published)
                continue
            }
            let name = try eventName(item)
            switch item.key {
            case "insert": events.insert = name
            case "update": events.update = name
            default: events.delete = name
            }
        }
        guard events.insert != nil || events.publishesUpdates || events.delete != nil else {
            throw reader.error(.invalidValue, entry.path, entry.value, "names no event; give at least one of insert, update, delete")
        }
        return events
    }

    static let ruleKeys = ["event", "when", "fields"]
    static let conditionKeys = ["set", "cleared", "changed"]

    /// `events.update` as a list: `- {event: Name, when: {set|cleared|changed: column(s)}, fields: [published names]}`.
    func decodeUpdateRules(_ entry: YAMLReader.Entry, published: [String]) throws(ConfigurationError) -> [UpdateRule] {
        guard case .sequence(let sequence) = entry.value, !sequence.isEmpty else {
            throw reader.error(.invalidValue, entry.path, entry.value,
                               "the list of update rules is empty; give at least one rule ({event: Name}), or write update: EventName")
        }
        var rules: [UpdateRule] = []
        for (position, item) in sequence.enumerated() {
            let path = entry.path + "[\(position)]"
            let section = try reader.entries(item, path, expected: "a rule like {event: UserEmailChanged, when: {changed: [email]}}")
            try reader.checkKeys(section, allowed: Self.ruleKeys, in: path, place: "in \(path)")
            let fields = MappingFields(entries: section)
            let eventEntry = try reader.required(section, "event", in: path, item, hint: "write event: the event type this rule publishes")
            var rule = UpdateRule(eventType: try eventName(eventEntry))
            if let when = fields["when"] {
                let conditions = try reader.entries(when.value, when.path, expected: "a mapping like {set: deleted_at}")
                try reader.checkKeys(conditions, allowed: Self.conditionKeys, in: when.path, place: "in \(when.path)")
                for condition in conditions where !YAMLReader.isNull(condition.value) {
                    let columns = try columnNames(condition)
                    switch condition.key {
                    case "set": rule.set = columns
                    case "cleared": rule.cleared = columns
                    default: rule.changed = columns
                    }
                }
                if rule.matchesEveryUpdate {
                    throw reader.error(.invalidValue, when.path, when.value,
                                       "names no column; write set, cleared or changed with a column, or remove when so the rule matches every update")
                }
                if let both = rule.set.first(where: rule.cleared.contains) {
                    throw reader.error(.invalidValue, when.path, when.value,
                                       "column '\(both)' is both set and cleared, which no update can be; remove one")
                }
            }
            if let fieldsEntry = fields["fields"] {
                let names = try reader.stringList(fieldsEntry.value, fieldsEntry.path)
                guard !names.isEmpty else {
                    throw reader.error(.invalidValue, fieldsEntry.path, fieldsEntry.value,
                                       "the list is empty; list the published field names the event carries, or remove fields to carry them all")
                }
                for (index, name) in names.enumerated() {
                    if names[..<index].contains(name) {
                        throw reader.error(.invalidValue, fieldsEntry.path + "[\(index)]", fieldsEntry.value, "field '\(name)' is listed twice")
                    }
                    guard published.contains(name) else {
                        var message = "'\(name)' is not a published field name; list names from the mapping's fields (after renames): "
                            + published.joined(separator: ", ")
                        if let closest = Levenshtein.closest(to: name, in: published), closest.distance <= 3 {
                            message += " (did you mean '\(closest.candidate)'?)"
                        }
                        throw reader.error(.invalidValue, fieldsEntry.path + "[\(index)]", fieldsEntry.value, message)
                    }
                }
                rule.fields = names
            }
            if let catchAll = rules.firstIndex(where: \.matchesEveryUpdate) {
                throw reader.error(.invalidValue, path, item,
                                   "rule \(entry.path)[\(catchAll)] has no when and matches every update, so this rule is never reached; move it before that rule or remove it")
            }
            rules.append(rule)
        }
        return rules
    }

    /// A column name or a list of them (`deleted_at` or `[email, phone]`).
    func columnNames(_ entry: YAMLReader.Entry) throws(ConfigurationError) -> [String] {
        let names: [String]
        if case .sequence = entry.value {
            names = try reader.stringList(entry.value, entry.path)
        } else {
            names = [try reader.string(entry.value, entry.path)]
        }
        guard !names.isEmpty else {
            throw reader.error(.invalidValue, entry.path, entry.value, "the list is empty; name at least one column")
        }
        return names
    }

    static let transformKeys = ["as", "hash", "key", "mask"]
    /// The shortest HMAC key accepted, in bytes (the hash's output size).
    static let minimumKeyBytes = 32

    /// A field given as a mapping: `{as: fieldName, hash: hmac-sha256, key: ...}` or `{as: fieldName, mask: last4}`.
    func decodeTransformedField(_ item: YAMLReader.Entry) throws(ConfigurationError) -> (field: String, transform: FieldTransform) {
        let section = try reader.entries(item.value, item.path)
        try reader.checkKeys(section, allowed: Self.transformKeys, in: item.path, place: "in \(item.path)")
        let fields = MappingFields(entries: section)
        let field = try fields["as"].map { (entry) throws(ConfigurationError) in try reader.string(entry.value, entry.path) } ?? item.key
        switch (fields["hash"], fields["mask"]) {
        case (nil, nil):
            throw reader.error(.invalidValue, item.path, item.value,
                               "names no transform; write {as: \(field), hash: hmac-sha256, key: \"${PII_KEY}\"} or {as: \(field), mask: last4}, or column: fieldName for the value as it is")
        case (.some, .some):
            throw reader.error(.invalidValue, item.path, item.value, "has both hash and mask; give one")
        case (let hash?, nil):
            let name = try reader.string(hash.value, hash.path)
            guard name == "hmac-sha256" else {
                throw reader.error(.invalidValue, hash.path, hash.value, "'\(name)' is not a hash WalBridge has; write hash: hmac-sha256")
            }
            let keyEntry = try reader.required(section, "key", in: item.path, item.value,
                                               hint: "write key: \"${PII_KEY}\" (a secret of at least \(Self.minimumKeyBytes) bytes, from the environment or ${file:/path})")
            let key = try reader.string(keyEntry.value, keyEntry.path, sensitive: true)
            let bytes = Array(key.utf8)
            guard bytes.count >= Self.minimumKeyBytes else {
                throw reader.error(.invalidValue, keyEntry.path, keyEntry.value,
                                   "the HMAC key is \(bytes.count) bytes long; it must be at least \(Self.minimumKeyBytes) bytes (for example the output of `openssl rand -hex 32`)")
            }
            return (field, .hmacSHA256(key: SecretKey(bytes)))
        case (nil, let mask?):
            if let key = fields["key"] {
                throw reader.error(.invalidValue, key.path, key.value, "key applies to hash, not to mask; remove it")
            }
            let name = try reader.string(mask.value, mask.path)
            guard name == "last4" else {
                throw reader.error(.invalidValue, mask.path, mask.value, "'\(name)' is not a mask WalBridge has; write mask: last4")
            }
            return (field, .maskLast4)
        }
    }

    func decodeFields(_ node: Node, _ fields: MappingFields, path: String) throws(ConfigurationError) -> [FieldMapping] {
        let entry = try reader.required(fields.entries, "fields", in: path, node,
                                        hint: "list the published columns as column: fieldName (an allowlist; nothing else is published)")
        let section = try reader.entries(entry.value, entry.path, expected: "a mapping of column: fieldName")
        guard !section.isEmpty else {
            throw reader.error(.invalidValue, entry.path, entry.value, "is empty; list at least one column as column: fieldName")
        }
        var result: [FieldMapping] = []
        var columnByField: [String: String] = [:]
        for item in section {
            guard !item.key.isEmpty else {
                throw reader.error(.invalidValue, item.path, item.keyNode, "a column name is empty")
            }
            var field = item.key
            var transform: FieldTransform?
            if case .mapping = item.value {
                (field, transform) = try decodeTransformedField(item)
            } else if !YAMLReader.isNull(item.value) {
                field = try reader.string(item.value, item.path)
            }
            if let other = columnByField[field] {
                throw reader.error(.invalidValue, item.path, item.value,
                                   "columns '\(other)' and '\(item.key)' are both published as '\(field)'; give each its own field name")
            }
            columnByField[field] = item.key
            result.append(FieldMapping(column: item.key, field: field, transform: transform))
        }
        return result
    }

    func decodeSnapshot(_ entry: YAMLReader.Entry, events: TableMapping.Events, path: String) throws(ConfigurationError) -> SnapshotSettings {
        let section = try reader.entries(entry.value, entry.path)
        try reader.checkKeys(section, allowed: ["mode", "event", "chunk_size"], in: entry.path, place: "in \(entry.path)")
        var snapshot = SnapshotSettings()
        for item in section where !YAMLReader.isNull(item.value) {
            switch item.key {
            case "mode": snapshot.mode = try reader.choice(item.value, item.path, SnapshotSettings.Mode.self)
            case "event": snapshot.eventType = try eventName(item)
            default: snapshot.chunkSize = try reader.int(item.value, item.path, range: 1...10_000_000)
            }
        }
        if snapshot.mode == .initial && snapshot.eventType == nil && events.insert == nil {
            throw reader.error(.invalidValue, entry.path, entry.value,
                               "mode initial needs an event type: set snapshot.event or events.insert")
        }
        return snapshot
    }
}

/// The entries of one mapping, looked up by key (null values count as absent).
struct MappingFields {
    let entries: [YAMLReader.Entry]
    subscript(key: String) -> YAMLReader.Entry? {
        entries.first { $0.key == key && !YAMLReader.isNull($0.value) }
    }
}
