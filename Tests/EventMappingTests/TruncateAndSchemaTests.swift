@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Truncate events, unavailable columns and JSON Schemas")
struct TruncateAndSchemaTests {
    static let twoTablesYAML = Fixtures.designYAML + """

      - table: '"Sales Schema"."Order Items"'
        topic: sales.items
        key: [order_id, line]
        events: {insert: ItemAdded}
        truncate: ItemsCleared
        schema_version: 3
        fields: {order_id: orderId, line: line, price: price}
    """

    static func relation(_ id: UInt32, _ schema: String, _ name: String) -> Relation {
        Relation(id: id, schema: schema, name: name, replicaIdentity: .default, columns: [])
    }

    @Test func truncateOfSeveralTablesNamesEachByPositionAndSkipsWithReport() throws {
        let mapper = try Fixtures.mapper(Self.twoTablesYAML)
        let users = Self.relation(1, "public", "users")
        let items = Self.relation(2, "Sales Schema", "Order Items")
        let other = Self.relation(3, "public", "unmapped")
        let outcome = mapper.mapTruncate(relations: [items, other, users], cascade: true, restartIdentity: false,
                                         ordinal: 4, transaction: Fixtures.transaction)
        #expect(outcome.skipped == [QualifiedName(schema: "public", table: "users")])
        try #require(outcome.records.count == 1)
        let record = outcome.records[0]
        // First table of the message: the plain change id, like any change at ordinal 4.
        #expect(record.eventID == mapper.eventID(commitLSN: Fixtures.transaction.commitLSN, ordinal: 4))
        #expect(record.key == nil)
        #expect(record.topic == "sales.items")
        #expect(record.header("schema-version") == Array("3".utf8))
        #expect(Fixtures.text(record.value) == """
        {"eventId":"\(record.eventID)","eventType":"ItemsCleared","schemaVersion":3,"occurredAt":"2026-11-23T05:12:00.123456Z",\
        "source":{"database":"auth","schema":"Sales Schema","table":"Order Items","lsn":"0/16B3748","txId":1234},\
        "data":{"cascade":true,"restartIdentity":false}}
        """)

        // At position 2 the id is `…/<ordinal>/2`: distinct from every change id.
        let later = mapper.mapTruncate(relations: [users, other, items], cascade: false, restartIdentity: true,
                                       ordinal: 4, transaction: Fixtures.transaction)
        let id = try #require(later.records.first?.eventID)
        #expect(id == UUIDv5.make(namespace: UUIDv5.walBridgeNamespace, name: "\(Fixtures.systemID)/auth/0/16B3748/4/2"))
        #expect(id != mapper.eventID(commitLSN: Fixtures.transaction.commitLSN, ordinal: 4))
        #expect(Fixtures.text(later.records[0].value)!.contains(#""data":{"cascade":false,"restartIdentity":true}"#))
    }

    @Test func truncateOfUnmappedTablesIsNothing() throws {
        let mapper = try Fixtures.mapper()
        let outcome = mapper.mapTruncate(relations: [Self.relation(9, "public", "audit")], cascade: false,
                                         restartIdentity: false, ordinal: 0, transaction: Fixtures.transaction)
        #expect(outcome.records.isEmpty)
        #expect(outcome.skipped.isEmpty)
    }

    // MARK: - JSON Schema

    static func column(_ name: String, _ type: ColumnDescription.ValueType, notNull: Bool = false) -> ColumnDescription {
        ColumnDescription(name: name, typeName: "t", typeOID: 0, valueType: type, notNull: notNull, toastable: false)
    }

    static let usersColumns: [String: ColumnDescription] = [
        "id": column("id", .builtin(oid: PostgresTypeOID.int8), notNull: true),
        "username": column("username", .builtin(oid: PostgresTypeOID.text), notNull: true),
        "password_hash": column("password_hash", .builtin(oid: PostgresTypeOID.text), notNull: true),
        "first_name": column("first_name", .builtin(oid: PostgresTypeOID.text)),
        "last_name": column("last_name", .builtin(oid: PostgresTypeOID.text)),
        "email": column("email", .builtin(oid: PostgresTypeOID.text), notNull: true),
    ]

    static func schemas(_ yaml: String = Fixtures.designYAML, columns: [QualifiedName: [String: ColumnDescription]]? = nil) throws -> [EventSchema] {
        try EventSchemaGenerator.schemas(
            configuration: Fixtures.configuration(yaml),
            columns: columns ?? [QualifiedName(schema: "public", table: "users"): usersColumns],
            keyColumns: [:])
    }

    @Test func usersSchemasAcceptTheMappersOwnEventsAndRejectLeaks() throws {
        let schemas = try Self.schemas()
        #expect(schemas.map(\.eventType) == ["UserRegistered", "UserUpdated", "UserDeleted"])
        let mapper = try Fixtures.mapper()
        let relation = Fixtures.usersRelation()
        let insert = try mapper.map(RowChange(operation: .insert, relation: relation, new: Fixtures.adaRow, old: nil, oldKind: nil, ordinal: 0),
                                    transaction: Fixtures.transaction)[0]
        let registered = schemas[0].schema
        #expect(try JSONSchemaCheck.errors(Self.json(insert.value), against: registered).isEmpty)
        let delete = try mapper.map(RowChange(operation: .delete, relation: relation, new: nil, old: Fixtures.adaRow, oldKind: .key, ordinal: 1),
                                    transaction: Fixtures.transaction)[0]
        #expect(try JSONSchemaCheck.errors(Self.json(delete.value), against: schemas[2].schema).isEmpty)
        // The delete (key only) is not a valid UserRegistered: fields are required there.
        #expect(try !JSONSchemaCheck.errors(Self.json(delete.value), against: registered).isEmpty)

        // A leaked column, a wrong type, a wrong event type: each is caught.
        var leaked = try Self.json(insert.value) as! [String: Any]
        var data = leaked["data"] as! [String: Any]
        data["passwordHash"] = "x"
        leaked["data"] = data
        #expect(JSONSchemaCheck.errors(leaked, against: registered).contains { $0.contains("passwordHash") })
        data.removeValue(forKey: "passwordHash")
        data["userId"] = "42"
        leaked["data"] = data
        #expect(!JSONSchemaCheck.errors(leaked, against: registered).isEmpty)
        data["userId"] = 42
        leaked["data"] = data
        leaked["eventType"] = "UserUpdated"
        #expect(!JSONSchemaCheck.errors(leaked, against: registered).isEmpty)
    }

    @Test func valueSchemasFollowTheEncoding() throws {
        typealias T = PostgresTypeOID
        func accepts(_ type: ColumnDescription.ValueType, _ value: Any) -> Bool {
            var defs: [(String, JSONDocument)] = []
            let schema = EventSchemaGenerator.valueSchema(type, defName: "f", defs: &defs)
            let root = JSONDocument.object([("$defs", .object(defs)), ("properties", .object([("f", schema)]))])
            return JSONSchemaCheck.errors(["f": value], against: root).isEmpty
        }
        #expect(accepts(.builtin(oid: T.numeric), "-12.50"))
        #expect(accepts(.builtin(oid: T.numeric), "NaN"))
        #expect(!accepts(.builtin(oid: T.numeric), 12.5))
        #expect(accepts(.builtin(oid: T.float8), 1.5))
        #expect(accepts(.builtin(oid: T.float8), "-Infinity"))
        #expect(!accepts(.builtin(oid: T.float8), "1.5"))
        #expect(accepts(.builtin(oid: T.int2), 32767))
        #expect(!accepts(.builtin(oid: T.int2), 32768))
        #expect(accepts(.builtin(oid: T.timestamptz), "2026-11-23T05:12:00.123456Z"))
        #expect(accepts(.builtin(oid: T.timestamptz), "infinity"))
        #expect(!accepts(.builtin(oid: T.timestamptz), "2026-11-23 05:12:00+00"))
        #expect(accepts(.builtin(oid: T.timestamp), "2026-11-23T05:12:00.000000"))
        #expect(accepts(.builtin(oid: T.date), "-infinity"))
        #expect(accepts(.builtin(oid: T.bytea), "AAEC/w=="))
        #expect(accepts(.builtin(oid: T.jsonb), ["any": [1, "json"]]))
        #expect(accepts(.enumeration(labels: ["sad", "ok"]), "ok"))
        #expect(!accepts(.enumeration(labels: ["sad", "ok"]), "happy"))
        let matrix = ColumnDescription.ValueType.array(element: .builtin(oid: T.int4))
        #expect(accepts(matrix, [[1, 2], [3, NSNull()]]))
        #expect(accepts(matrix, []))
        #expect(!accepts(matrix, [[1, "2"]]))
    }

    @Test func truncateOutboxAndMessageSchemas() throws {
        let yaml = Fixtures.designYAML(replacing: "    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}",
                                       with: "    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}\n    truncate: UsersTruncated") + """

      - kind: message
        prefix: walbridge
        topic: auth.messages
        event: PasswordResetRequested
    """
        let schemas = try Self.schemas(yaml)
        #expect(schemas.map(\.eventType) == ["UserRegistered", "UserUpdated", "UserDeleted", "UsersTruncated", "PasswordResetRequested"])
        let truncate = try #require(schemas.first { $0.eventType == "UsersTruncated" })
        let event: [String: Any] = [
            "eventId": "9d866503-06e0-56ac-af12-f585766ec7b0", "eventType": "UsersTruncated", "schemaVersion": 1,
            "occurredAt": "2026-11-23T05:12:00.123456Z",
            "source": ["database": "auth", "schema": "public", "table": "users", "lsn": "0/16B3748", "txId": 1234],
            "data": ["cascade": false, "restartIdentity": false],
        ]
        #expect(JSONSchemaCheck.errors(event, against: truncate.schema).isEmpty)
    }

    @Test func unknownColumnAndConflictingEventNamesAreErrors() throws {
        var columns = Self.usersColumns
        columns.removeValue(forKey: "email")
        #expect(throws: EventSchemaError.self) {
            try Self.schemas(columns: [QualifiedName(schema: "public", table: "users"): columns])
        }
        let yaml = Fixtures.designYAML + """

      - table: public.projects
        topic: pm.projects
        key: [project_id]
        events: {insert: UserRegistered}
        fields: {project_id: projectId}
    """
        #expect(throws: EventSchemaError.self) {
            try Self.schemas(yaml, columns: [
                QualifiedName(schema: "public", table: "users"): Self.usersColumns,
                QualifiedName(schema: "public", table: "projects"): ["project_id": Self.column("project_id", .builtin(oid: 23), notNull: true)],
            ])
        }
    }

    static func json(_ bytes: [UInt8]?) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes ?? []))
    }
}
