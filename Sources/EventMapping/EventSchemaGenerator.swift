import Configuration
import PostgresReplication

/// A JSON document built in memory, keeping the order of object members
/// (used for the generated JSON Schemas).
public indirect enum JSONDocument: Sendable, Hashable {
    case object([(String, JSONDocument)])
    case array([JSONDocument])
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case null

    public static func == (lhs: JSONDocument, rhs: JSONDocument) -> Bool {
        lhs.encoded(pretty: false) == rhs.encoded(pretty: false)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(encoded(pretty: false))
    }

    /// The member `name` of an object, or nil.
    public subscript(name: String) -> JSONDocument? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    /// UTF-8 JSON text; `pretty` indents by two spaces.
    public func encoded(pretty: Bool) -> String {
        var writer = JSONWriter(capacity: 1024)
        write(&writer, pretty: pretty, depth: 0)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private func write(_ writer: inout JSONWriter, pretty: Bool, depth: Int) {
        func newline(_ level: Int) {
            guard pretty else { return }
            writer.byte(UInt8(ascii: "\n"))
            for _ in 0..<(level * 2) { writer.byte(UInt8(ascii: " ")) }
        }
        switch self {
        case .null: writer.raw("null")
        case .bool(let flag): writer.raw(flag ? "true" : "false")
        case .integer(let number): writer.integer(number)
        case .string(let text): writer.string(text)
        case .array(let items):
            writer.byte(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                newline(depth + 1)
                item.write(&writer, pretty: pretty, depth: depth + 1)
            }
            if !items.isEmpty { newline(depth) }
            writer.byte(UInt8(ascii: "]"))
        case .object(let members):
            writer.byte(UInt8(ascii: "{"))
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                newline(depth + 1)
                writer.string(name)
                writer.byte(UInt8(ascii: ":"))
                if pretty { writer.byte(UInt8(ascii: " ")) }
                value.write(&writer, pretty: pretty, depth: depth + 1)
            }
            if !members.isEmpty { newline(depth) }
            writer.byte(UInt8(ascii: "}"))
        }
    }
}

/// One configured event and its JSON Schema.
public struct EventSchema: Sendable, Hashable {
    /// The event type (`UserRegistered`); for an outbox mapping, `*` (the type comes from each row).
    public var eventType: String
    /// What produces it: `insert on public.users`, `truncate on public.users`,
    /// `outbox public.outbox`, `message prefix 'walbridge'`.
    public var origin: String
    public var topic: String
    /// The JSON Schema (draft 2020-12).
    public var schema: JSONDocument
}

/// Why the schemas could not be generated.
public struct EventSchemaError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Derives a JSON Schema (draft 2020-12) for every configured event from the
/// mappings and the catalog's column types (docs/events.md, "Value encoding" and "JSON Schemas").
///
/// Pure: the caller supplies the column descriptions. Every `data` object is
/// closed (`additionalProperties: false`), so a schema also proves the allowlist.
public enum EventSchemaGenerator {
    public static let draft = "https://json-schema.org/draft/2020-12/schema"

    /// - Parameters:
    ///   - configuration: the checked configuration.
    ///   - columns: for each mapped table, its columns by name (at least the mapped ones).
    ///   - keyColumns: each table mapping's resolved key columns (its `key:` or primary key).
    /// - Throws: `EventSchemaError` when a mapped column is not described, or
    ///   when one event type name is used by two mappings with different shapes.
    public static func schemas(
        configuration: BridgeConfiguration, columns: [QualifiedName: [String: ColumnDescription]],
        keyColumns: [QualifiedName: [String]]
    ) throws(EventSchemaError) -> [EventSchema] {
        var result: [EventSchema] = []
        for mapping in configuration.mappings {
            switch mapping {
            case .table(let table):
                guard let described = columns[table.table] else {
                    throw EventSchemaError("no column types for \(table.table); is the table there?")
                }
                let key = table.key ?? keyColumns[table.table] ?? []
                let schemas = try tableSchemas(table, columns: described, key: key)
                result += table.format == .walbridge ? schemas : schemas.map { formatted($0, table) }
            case .outbox(let outbox):
                result.append(EventSchema(
                    eventType: "*", origin: "outbox \(outbox.table)", topic: outbox.topic,
                    schema: envelope(title: "Events of the outbox \(outbox.table)",
                                     eventType: .object([("type", .string("string")), ("minLength", .integer(1))]),
                                     version: outbox.schemaVersion, source: tableSource(outbox.table),
                                     dataSchema: .object([("description", .string("the row's JSON payload"))]),
                                     extra: [], defs: [])))
            case .message(let message):
                let source = JSONDocument.object([
                    ("type", .string("object")),
                    ("required", .array([.string("database"), .string("prefix"), .string("lsn")])),
                    ("properties", .object([
                        ("database", .object([("type", .string("string"))])),
                        ("prefix", .object([("const", .string(message.prefix))])),
                        ("lsn", lsnSchema),
                        ("txId", .object([("type", .string("integer")), ("minimum", .integer(0))])),
                    ])),
                ])
                result.append(EventSchema(
                    eventType: message.eventType, origin: "message prefix '\(message.prefix)'", topic: message.topic,
                    schema: envelope(title: message.eventType, eventType: .object([("const", .string(message.eventType))]),
                                     version: message.schemaVersion, source: source,
                                     dataSchema: .object([("description", .string("the message's JSON content"))]),
                                     extra: [], defs: [])))
            }
        }
        return try merged(result)
    }

    private enum Operation: String { case insert, update, delete }

    private static func tableSchemas(_ mapping: TableMapping, columns: [String: ColumnDescription], key: [String]) throws(EventSchemaError) -> [EventSchema] {
        var properties: [(String, JSONDocument)] = []
        var defs: [(String, JSONDocument)] = []
        for field in mapping.fields {
            guard let column = columns[field.column] else {
                throw EventSchemaError("table \(mapping.table) has no column '\(field.column)' (mappings[\(mapping.index)].fields)")
            }
            var schema: JSONDocument
            switch field.transform {
            case .hmacSHA256:
                schema = string(pattern: "^[0-9a-f]{64}$")
            case .maskLast4:
                schema = .object([("type", .string("string"))])
            case nil:
                schema = valueSchema(column.valueType, defName: field.field, defs: &defs)
            }
            if !column.notNull { schema = nullable(schema) }
            let transformNote = field.transform.map { " (\($0))" } ?? ""
            schema = annotated(schema, description: "\(column.name) \(column.typeName)\(transformNote)")
            properties.append((field.field, schema))
        }
        let fieldNames = mapping.fields.map(\.field)
        let keyFields = key.compactMap { mapping.field(forColumn: $0) }
        let fieldEnum = JSONDocument.object([("enum", .array(fieldNames.map { .string($0) }))])
        let fieldList = JSONDocument.object([("type", .string("array")), ("items", fieldEnum), ("uniqueItems", .bool(true))])

        func data(required: [String], carried: [String]? = nil) -> JSONDocument {
            .object([
                ("type", .string("object")),
                ("properties", .object(carried.map { names in properties.filter { names.contains($0.0) } } ?? properties)),
                ("required", .array(required.map { .string($0) })),
                ("additionalProperties", .bool(false)),
            ])
        }
        var schemas: [EventSchema] = []
        // Each update rule's event, with the fields it carries.
        for rule in mapping.events.updateRules {
            let carried = rule.fields ?? fieldNames
            let list = JSONDocument.object([
                ("type", .string("array")), ("items", .object([("enum", .array(carried.map { .string($0) }))])), ("uniqueItems", .bool(true))])
            schemas.append(EventSchema(
                eventType: rule.eventType, origin: "update rule on \(mapping.table)", topic: mapping.topic,
                schema: envelope(title: rule.eventType, eventType: .object([("const", .string(rule.eventType))]),
                                 version: mapping.schemaVersion, source: tableSource(mapping.table),
                                 dataSchema: data(required: keyFields.filter(carried.contains), carried: rule.fields),
                                 extra: [("previous", data(required: [], carried: rule.fields)), ("changedFields", list), ("unavailableFields", list)],
                                 defs: defs)))
        }
        let operations: [(Operation, String?)] = [(.insert, mapping.events.insert), (.update, mapping.events.update), (.delete, mapping.events.delete)]
        for case let (operation, eventType?) in operations {
            var extra: [(String, JSONDocument)] = [("unavailableFields", fieldList)]
            let required: [String]
            switch operation {
            case .insert:
                required = fieldNames
            case .update:
                required = keyFields
                extra.insert(("previous", data(required: [])), at: 0)
                extra.insert(("changedFields", fieldList), at: 1)
            case .delete:
                required = keyFields
            }
            schemas.append(EventSchema(
                eventType: eventType, origin: "\(operation.rawValue) on \(mapping.table)", topic: mapping.topic,
                schema: envelope(title: eventType, eventType: .object([("const", .string(eventType))]),
                                 version: mapping.schemaVersion, source: tableSource(mapping.table),
                                 dataSchema: data(required: required), extra: extra, defs: defs)))
        }
        if case .publish(let eventType) = mapping.truncate {
            let flag = JSONDocument.object([("type", .string("boolean"))])
            let truncateData = JSONDocument.object([
                ("type", .string("object")),
                ("properties", .object([("cascade", flag), ("restartIdentity", flag)])),
                ("required", .array([.string("cascade"), .string("restartIdentity")])),
                ("additionalProperties", .bool(false)),
            ])
            schemas.append(EventSchema(
                eventType: eventType, origin: "truncate on \(mapping.table)", topic: mapping.topic,
                schema: envelope(title: eventType, eventType: .object([("const", .string(eventType))]),
                                 version: mapping.schemaVersion, source: tableSource(mapping.table),
                                 dataSchema: truncateData, extra: [], defs: [])))
        }
        return schemas
    }

    /// The value schema of a table mapping's event in its `format` (truncate
    /// events keep the envelope): CloudEvents binary, `data` alone; structured,
    /// the attributes and `data`; Debezium, before/after/source/op/ts_ms/ts_us/ts_ns/transaction.
    static func formatted(_ schema: EventSchema, _ mapping: TableMapping) -> EventSchema {
        guard !schema.origin.hasPrefix("truncate"), case .object(let members) = schema.schema,
              case .object(let properties)? = members.first(where: { $0.0 == "properties" })?.1,
              let data = properties.first(where: { $0.0 == "data" })?.1 else { return schema }
        let defs = members.first { $0.0 == "$defs" }
        let title = members.first { $0.0 == "title" }?.1 ?? .string(schema.eventType)
        func document(_ description: String, _ body: [(String, JSONDocument)]) -> JSONDocument {
            var result: [(String, JSONDocument)] = [("$schema", .string(draft)), ("title", title), ("description", .string(description))]
            result += body
            if let defs { result.append(defs) }
            return .object(result)
        }
        func text(_ extra: [(String, JSONDocument)] = []) -> JSONDocument { .object([("type", .string("string"))] + extra) }
        var result = schema
        switch mapping.format {
        case .walbridge:
            return schema
        case .cloudevents:
            guard case .object(let dataMembers) = data else { return schema }
            result.schema = document("the value of a cloudevents record (binary content mode): data alone; the attributes are ce_ headers", dataMembers)
        case .cloudeventsStructured:
            let eventType = schema.eventType
            let required = ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "lsn", "txid", "schemaversion", "data"]
            result.schema = document("an application/cloudevents+json value (structured content mode)", [
                ("type", .string("object")),
                ("required", .array(required.map { .string($0) })),
                ("properties", .object([
                    ("specversion", .object([("const", .string("1.0"))])),
                    ("id", text([("format", .string("uuid"))])),
                    ("source", text()),
                    ("type", .object([("const", .string(mapping.cloudEvents.typePrefix + eventType))])),
                    ("time", text([("format", .string("date-time"))])),
                    ("subject", text()),
                    ("datacontenttype", .object([("const", .string("application/json"))])),
                    ("lsn", lsnSchema),
                    ("txid", text([("pattern", .string("^[0-9]+$"))])),
                    ("schemaversion", .object([("const", .integer(Int64(mapping.schemaVersion)))])),
                    ("snapshot", .object([("const", .bool(true))])),
                    ("data", data),
                ])),
                ("additionalProperties", .bool(false)),
            ])
        case .debezium:
            let integer = JSONDocument.object([("type", .string("integer")), ("minimum", .integer(0))])
            let row = nullable(data)
            let source = JSONDocument.object([
                ("type", .string("object")),
                ("required", .array(["version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence",
                                     "schema", "table", "txId", "lsn", "xmin"].map { .string($0) })),
                ("properties", .object([
                    ("version", text()), ("connector", .object([("const", .string("postgresql"))])), ("name", text()),
                    ("ts_ms", integer), ("ts_us", integer), ("ts_ns", integer),
                    ("snapshot", .object([("enum", .array([.string("true"), .string("false")]))])), ("db", text()),
                    ("sequence", text([("pattern", .string(#"^\[null,"[0-9]+"\]$"#))])),
                    ("schema", .object([("const", .string(mapping.table.schema))])), ("table", .object([("const", .string(mapping.table.table))])),
                    ("txId", integer), ("lsn", integer), ("xmin", .object([("type", .string("null"))])),
                ])),
                ("additionalProperties", .bool(false)),
            ])
            result.schema = document("a Debezium PostgreSQL change event value (JSON converter, no schemas)", [
                ("type", .string("object")),
                ("required", .array(["before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"].map { .string($0) })),
                ("properties", .object([
                    ("before", row), ("after", row), ("source", source),
                    ("op", .object([("enum", .array(["c", "u", "d", "r"].map { .string($0) }))])),
                    ("ts_ms", integer), ("ts_us", integer), ("ts_ns", integer),
                    ("transaction", .object([("type", .string("null"))])),
                ])),
                ("additionalProperties", .bool(false)),
            ])
        }
        return result
    }

    private static func envelope(
        title: String, eventType: JSONDocument, version: Int, source: JSONDocument, dataSchema: JSONDocument,
        extra: [(String, JSONDocument)], defs: [(String, JSONDocument)]
    ) -> JSONDocument {
        var properties: [(String, JSONDocument)] = [
            ("eventId", .object([("type", .string("string")), ("format", .string("uuid")),
                                 ("pattern", .string("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))])),
            ("eventType", eventType),
            ("schemaVersion", .object([("const", .integer(Int64(version)))])),
            ("occurredAt", .object([("type", .string("string")), ("format", .string("date-time")),
                                    ("pattern", .string("^\\d{4,}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z$"))])),
            ("source", source),
            ("data", dataSchema),
        ]
        properties += extra
        var members: [(String, JSONDocument)] = [
            ("$schema", .string(draft)),
            ("title", .string(title)),
            ("type", .string("object")),
            ("required", .array(["eventId", "eventType", "schemaVersion", "occurredAt", "source", "data"].map { .string($0) })),
            ("properties", .object(properties)),
            ("additionalProperties", .bool(false)),
        ]
        if !defs.isEmpty { members.append(("$defs", .object(defs))) }
        return .object(members)
    }

    private static func tableSource(_ table: QualifiedName) -> JSONDocument {
        .object([
            ("type", .string("object")),
            ("required", .array(["database", "schema", "table", "lsn", "txId"].map { .string($0) })),
            ("properties", .object([
                ("database", .object([("type", .string("string"))])),
                ("schema", .object([("const", .string(table.schema))])),
                ("table", .object([("const", .string(table.table))])),
                ("lsn", lsnSchema),
                ("txId", .object([("type", .string("integer")), ("minimum", .integer(0))])),
                ("snapshot", .object([("type", .string("boolean"))])),
            ])),
            ("additionalProperties", .bool(false)),
        ])
    }

    private static let lsnSchema = JSONDocument.object([("type", .string("string")), ("pattern", .string("^[0-9A-F]+/[0-9A-F]+$"))])

    static func nullable(_ schema: JSONDocument) -> JSONDocument {
        .object([("anyOf", .array([schema, .object([("type", .string("null"))])]))])
    }

    private static func annotated(_ schema: JSONDocument, description: String) -> JSONDocument {
        guard case .object(var members) = schema else { return schema }
        members.insert(("description", .string(description)), at: 0)
        return .object(members)
    }

    /// The schema of one (non-null) value.
    static func valueSchema(_ type: ColumnDescription.ValueType, defName: String, defs: inout [(String, JSONDocument)]) -> JSONDocument {
        switch type {
        case .text:
            return .object([("type", .string("string"))])
        case .enumeration(let labels):
            return .object([("type", .string("string")), ("enum", .array(labels.map { .string($0) }))])
        case .builtin(let oid):
            return builtinSchema(oid)
        case .array(let element):
            // Arrays nest for each dimension, and any element may be NULL.
            let name = defName + "Array"
            let elementSchema = valueSchema(element, defName: defName + "Element", defs: &defs)
            let array = JSONDocument.object([
                ("type", .string("array")),
                ("items", .object([("anyOf", .array([
                    elementSchema, .object([("type", .string("null"))]), .object([("$ref", .string("#/$defs/\(name)"))]),
                ]))])),
            ])
            defs.append((name, array))
            return .object([("$ref", .string("#/$defs/\(name)"))])
        }
    }

    private static func string(pattern: String) -> JSONDocument {
        .object([("type", .string("string")), ("pattern", .string(pattern))])
    }

    static func builtinSchema(_ oid: UInt32) -> JSONDocument {
        typealias T = PostgresTypeOID
        let date = "\\d{4,}-\\d{2}-\\d{2}"
        let time = "\\d{2}:\\d{2}:\\d{2}\\.\\d{6}"
        switch oid {
        case T.bool:
            return .object([("type", .string("boolean"))])
        case T.int2:
            return .object([("type", .string("integer")), ("minimum", .integer(-32768)), ("maximum", .integer(32767))])
        case T.int4:
            return .object([("type", .string("integer")), ("minimum", .integer(-2_147_483_648)), ("maximum", .integer(2_147_483_647))])
        case T.int8:
            return .object([("type", .string("integer"))])
        case T.oid:
            return .object([("type", .string("integer")), ("minimum", .integer(0)), ("maximum", .integer(4_294_967_295))])
        case T.float4, T.float8:
            return .object([("anyOf", .array([
                .object([("type", .string("number"))]),
                .object([("enum", .array([.string("NaN"), .string("Infinity"), .string("-Infinity")]))]),
            ]))])
        case T.numeric:
            return string(pattern: "^(-?\\d+(\\.\\d+)?|NaN|-?Infinity)$")
        case T.uuid:
            return .object([("type", .string("string")), ("format", .string("uuid"))])
        case T.json, T.jsonb:
            return .object([("description", .string("embedded JSON"))])
        case T.bytea:
            return .object([("type", .string("string")), ("contentEncoding", .string("base64")),
                            ("pattern", .string("^[A-Za-z0-9+/]*={0,2}$"))])
        case T.date:
            return string(pattern: "^(\(date)|\(date) BC|-?infinity)$")
        case T.time:
            return string(pattern: "^\(time)$")
        case T.timestamp:
            return string(pattern: "^(\(date)T\(time)|\(date) \\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})? BC|-?infinity)$")
        case T.timestamptz:
            return string(pattern: "^(\(date)T\(time)Z|\(date) \\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?\\+00 BC|-?infinity)$")
        default:
            return .object([("type", .string("string"))])
        }
    }

    /// One schema per event type: the same name for two operations of one
    /// mapping (say `UserChanged` for insert and update) gets the looser
    /// schema; the same name with different shapes across mappings is an error.
    /// True when every property of `small` is in `large` with the same schema.
    private static func isSubset(_ small: JSONDocument?, of large: JSONDocument?) -> Bool {
        guard case .object(let smallProperties)? = small, case .object(let largeProperties)? = large else { return false }
        return smallProperties.allSatisfy { property in largeProperties.contains { $0.0 == property.0 && $0.1 == property.1 } }
    }

    private static func merged(_ schemas: [EventSchema]) throws(EventSchemaError) -> [EventSchema] {
        var result: [EventSchema] = []
        for schema in schemas {
            guard let index = result.firstIndex(where: { $0.eventType == schema.eventType }) else {
                result.append(schema)
                continue
            }
            let existing = result[index]
            if existing.schema == schema.schema { continue }
            let sameSource = existing.schema["properties"]?["source"] == schema.schema["properties"]?["source"]
            let existingFields = existing.schema["properties"]?["data"]?["properties"]
            let newFields = schema.schema["properties"]?["data"]?["properties"]
            if sameSource, existing.topic == schema.topic, existingFields != newFields {
                // An update rule's `fields:` under a name another operation of the
                // table uses with every field (`UserDeleted` for delete and soft
                // delete): keep the schema with more fields, which allows both.
                if isSubset(newFields, of: existingFields) {
                    result[index].origin += ", " + schema.origin
                    continue
                }
                if isSubset(existingFields, of: newFields) {
                    result[index] = EventSchema(eventType: schema.eventType, origin: existing.origin + ", " + schema.origin,
                                                topic: schema.topic, schema: schema.schema)
                    continue
                }
            }
            let sameTable = sameSource && existingFields == newFields
            guard sameTable, existing.topic == schema.topic else {
                throw EventSchemaError(
                    "event type '\(schema.eventType)' is used by \(existing.origin) and \(schema.origin) with different shapes; give them distinct event names")
            }
            // Same table and fields: keep the schema that requires less (update/delete over insert).
            let existingRequired = existing.schema["properties"]?["data"]?["required"]
            if case .array(let a) = existingRequired, case .array(let b) = schema.schema["properties"]?["data"]?["required"], b.count < a.count {
                result[index] = EventSchema(eventType: schema.eventType, origin: existing.origin + ", " + schema.origin,
                                            topic: schema.topic, schema: schema.schema)
            } else {
                result[index].origin += ", " + schema.origin
            }
        }
        return result
    }
}
