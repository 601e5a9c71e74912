@testable import Configuration
@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Event mapping: envelopes, keys and headers")
struct EventMapperTests {
    let mapper: EventMapper
    init() throws { mapper = try Fixtures.mapper() }

    static let envelopeStart = """
    {"eventId":"9d866503-06e0-56ac-af12-f585766ec7b0","eventType":"%@","schemaVersion":1,\
    "occurredAt":"2026-11-23T05:12:00.123456Z","source":{"database":"auth","schema":"public","table":"users",\
    "lsn":"0/16B3748","txId":1234},
    """

    func expected(_ eventType: String, _ rest: String) -> String {
        Self.envelopeStart.replacingOccurrences(of: "%@", with: eventType) + rest
    }

    func change(_ operation: RowChange.Operation, identity: Relation.ReplicaIdentity = .default, new: Row? = nil,
                old: Row? = nil, oldKind: OldRowKind? = nil, ordinal: Int = 0) -> RowChange {
        RowChange(operation: operation, relation: Fixtures.usersRelation(identity: identity), new: new, old: old, oldKind: oldKind, ordinal: ordinal)
    }

    func single(_ change: RowChange) throws -> EventRecord {
        let records = try mapper.map(change, transaction: Fixtures.transaction)
        try #require(records.count == 1)
        return records[0]
    }

    @Test func insertEnvelopeByteForByte() throws {
        let record = try single(change(.insert, new: Fixtures.adaRow))
        #expect(Fixtures.text(record.value) == expected("UserRegistered", """
        "data":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}}
        """))
        #expect(!Fixtures.text(record.value)!.contains("argon2"))
        #expect(record.topic == "auth.users.events")
        #expect(Fixtures.text(record.key) == "42")
        #expect(record.eventID == "9d866503-06e0-56ac-af12-f585766ec7b0")
        #expect(record.eventType == "UserRegistered")
        #expect(record.headers == [
            EventHeader(name: "event-type", value: Array("UserRegistered".utf8)),
            EventHeader(name: "event-id", value: Array("9d866503-06e0-56ac-af12-f585766ec7b0".utf8)),
            EventHeader(name: "schema-version", value: Array("1".utf8)),
            EventHeader(name: "content-type", value: Array("application/json".utf8)),
        ])
    }

    @Test func updateWithoutOldRow() throws {
        var row = Fixtures.adaRow
        row[5] = .value(.string("ada@lovelace.org"))
        let record = try single(change(.update, new: row))
        #expect(Fixtures.text(record.value) == expected("UserUpdated", """
        "data":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace","email":"ada@lovelace.org"}}
        """))
    }

    @Test func updateUnderFullHasPreviousAndChangedFields() throws {
        var new = Fixtures.adaRow
        new[5] = .value(.string("ada@lovelace.org"))
        new[2] = .value(.string("$argon2id$NEWSECRET"))
        new[3] = .value(.string("Augusta Ada"))
        let record = try single(change(.update, identity: .full, new: new, old: Fixtures.adaRow, oldKind: .full))
        #expect(Fixtures.text(record.value) == expected("UserUpdated", """
        "data":{"userId":42,"username":"ada","firstName":"Augusta Ada","lastName":"Lovelace","email":"ada@lovelace.org"},\
        "previous":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"},\
        "changedFields":["firstName","email"]}
        """))
        #expect(!Fixtures.text(record.value)!.contains("SECRET"))
    }

    @Test func updateOfOnlyAnUnpublishedColumnHasEmptyChangedFields() throws {
        var new = Fixtures.adaRow
        new[2] = .value(.string("$argon2id$NEWSECRET"))
        let record = try single(change(.update, identity: .full, new: new, old: Fixtures.adaRow, oldKind: .full))
        #expect(Fixtures.text(record.value)!.hasSuffix(#""changedFields":[]}"#))
    }

    @Test func unchangedToastTakenFromFullOldRow() throws {
        var new = Fixtures.adaRow
        new[4] = .unchangedToast
        new[1] = .value(.string("ada2"))
        let record = try single(change(.update, identity: .full, new: new, old: Fixtures.adaRow, oldKind: .full))
        let text = try #require(Fixtures.text(record.value))
        #expect(text.contains(#""data":{"userId":42,"username":"ada2","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}"#))
        #expect(text.hasSuffix(#""changedFields":["username"]}"#))
        #expect(!text.contains("unavailableFields"))
    }

    @Test func unchangedToastWithoutOldRowIsUnavailable() throws {
        var new = Fixtures.adaRow
        new[4] = .unchangedToast
        new[5] = .unchangedToast
        let record = try single(change(.update, new: new))
        #expect(Fixtures.text(record.value) == expected("UserUpdated", """
        "data":{"userId":42,"username":"ada","firstName":"Ada"},"unavailableFields":["lastName","email"]}
        """))
    }

    @Test func unchangedToastOfAnUnpublishedColumnIsIgnored() throws {
        var new = Fixtures.adaRow
        new[2] = .unchangedToast
        let record = try single(change(.update, new: new))
        #expect(!Fixtures.text(record.value)!.contains("unavailableFields"))
    }

    @Test func updateThatChangesThePrimaryKeyCarriesTheOldKey() throws {
        var new = Fixtures.adaRow
        new[0] = .value(.int(43))
        let oldKey: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]
        let record = try single(change(.update, new: new, old: oldKey, oldKind: .key))
        let text = try #require(Fixtures.text(record.value))
        #expect(text.hasSuffix(#""email":"ada@example.com"},"previous":{"userId":42}}"#))
        #expect(Fixtures.text(record.key) == "43")
    }

    @Test func deleteUnderDefaultHasOnlyTheKey() throws {
        let oldKey: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]
        let record = try single(change(.delete, old: oldKey, oldKind: .key))
        #expect(Fixtures.text(record.value) == expected("UserDeleted", #""data":{"userId":42}}"#))
        #expect(Fixtures.text(record.key) == "42")
    }

    @Test func deleteUnderFullHasTheWholeMappedRow() throws {
        let record = try single(change(.delete, identity: .full, old: Fixtures.adaRow, oldKind: .full))
        #expect(Fixtures.text(record.value) == expected("UserDeleted", """
        "data":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}}
        """))
    }

    @Test func sqlNullIsPresentAsNull() throws {
        var row = Fixtures.adaRow
        row[3] = .value(.null)
        row[4] = .value(.null)
        let record = try single(change(.insert, new: row))
        #expect(Fixtures.text(record.value)!.contains(#""data":{"userId":42,"username":"ada","firstName":null,"lastName":null,"email":"ada@example.com"}"#))
    }

    @Test func tombstoneFollowsDelete() throws {
        let yaml = Fixtures.designYAML(replacing: "key: [id]", with: "key: [id]\n    tombstones: true")
        let mapper = try Fixtures.mapper(yaml)
        let oldKey: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]
        let records = try mapper.map(change(.delete, old: oldKey, oldKind: .key), transaction: Fixtures.transaction)
        #expect(records.count == 2)
        #expect(records[0].value != nil && !records[0].isTombstone)
        #expect(records[1].isTombstone)
        #expect(records[1].key == records[0].key)
        #expect(records[1].topic == records[0].topic)
        // Only deletes get a tombstone.
        #expect(try mapper.map(change(.insert, new: Fixtures.adaRow), transaction: Fixtures.transaction).count == 1)
    }

    @Test func unmappedTableAndOperation() throws {
        var other = change(.insert, new: Fixtures.adaRow)
        other.relation.name = "accounts"
        #expect(try mapper.map(other, transaction: Fixtures.transaction).isEmpty)
        var otherSchema = change(.insert, new: Fixtures.adaRow)
        otherSchema.relation.schema = "audit"
        #expect(try mapper.map(otherSchema, transaction: Fixtures.transaction).isEmpty)

        let insertOnly = try Fixtures.mapper(Fixtures.designYAML(
            replacing: "events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}", with: "events: {insert: UserRegistered}"))
        #expect(try insertOnly.map(change(.update, new: Fixtures.adaRow), transaction: Fixtures.transaction).isEmpty)
        #expect(try insertOnly.map(change(.delete, old: Fixtures.adaRow, oldKind: .full), transaction: Fixtures.transaction).isEmpty)
        #expect(try insertOnly.map(change(.insert, new: Fixtures.adaRow), transaction: Fixtures.transaction).count == 1)
    }

    @Test func lookup() {
        guard case .table(let mapping) = mapper.mapping(forSchema: "public", table: "users") else {
            Issue.record("public.users should be mapped")
            return
        }
        #expect(mapping.topic == "auth.users.events")
        #expect(mapper.mapping(forSchema: "public", table: "Users") == nil)
        #expect(mapper.mapping(forSchema: "other", table: "users") == nil)
        #expect(mapper.keyColumns(forSchema: "public", table: "users") == ["id"])
    }

    @Test func eventIDsAreDeterministic() throws {
        let first = try single(change(.insert, new: Fixtures.adaRow, ordinal: 5))
        let again = try single(change(.insert, new: Fixtures.adaRow, ordinal: 5))
        let next = try single(change(.insert, new: Fixtures.adaRow, ordinal: 6))
        #expect(first.eventID == again.eventID)
        #expect(first.value == again.value)
        #expect(first.eventID != next.eventID)
        let otherTransaction = TransactionInfo(commitLSN: LSN(0x16B3750), commitTimeMicros: 0, xid: 1)
        let moved = try mapper.map(change(.insert, new: Fixtures.adaRow, ordinal: 5), transaction: otherTransaction)[0]
        #expect(moved.eventID != first.eventID)
        let otherSystem = try EventMapper(configuration: Fixtures.configuration(), systemID: "1", database: "auth")
        #expect(try otherSystem.map(change(.insert, new: Fixtures.adaRow, ordinal: 5), transaction: Fixtures.transaction)[0].eventID != first.eventID)
    }

    @Test func schemaVersionAppearsInEnvelopeAndHeader() throws {
        let mapper = try Fixtures.mapper(Fixtures.designYAML(replacing: "key: [id]", with: "key: [id]\n    schema_version: 7"))
        let record = try mapper.map(change(.insert, new: Fixtures.adaRow), transaction: Fixtures.transaction)[0]
        #expect(Fixtures.text(record.value)!.contains(#""schemaVersion":7,"#))
        #expect(record.header("schema-version") == Array("7".utf8))
    }

    // MARK: Keys

    static let compositeYAML = """
    postgres: {url: "postgres://localhost/app"}
    kafka: {bootstrap_servers: "k:9092"}
    mappings:
      - table: app.members
        topic: members
        key: [org_id, user_id]
        events: {insert: MemberAdded, delete: MemberRemoved}
        fields: {user_id: userId, role: role, org_id: orgId}
    """

    static func membersRelation() -> Relation {
        Relation(id: 1, schema: "app", name: "members", replicaIdentity: .default, columns: [
            .init(name: "org_id", typeOID: 2950, typeModifier: -1, isKey: true),
            .init(name: "user_id", typeOID: 20, typeModifier: -1, isKey: true),
            .init(name: "role", typeOID: 25, typeModifier: -1, isKey: false),
        ])
    }

    @Test func compositeKeyIsAJSONObjectInKeyOrder() throws {
        let mapper = try Fixtures.mapper(Self.compositeYAML)
        let row: Row = [.value(.string("7d3e\"x")), .value(.int(42)), .value(.string("admin"))]
        let change = RowChange(operation: .insert, relation: Self.membersRelation(), new: row, old: nil, oldKind: nil, ordinal: 0)
        let record = try mapper.map(change, transaction: Fixtures.transaction)[0]
        #expect(Fixtures.text(record.key) == #"{"orgId":"7d3e\"x","userId":42}"#)
        #expect(Fixtures.text(record.value)!.contains(#""data":{"userId":42,"role":"admin","orgId":"7d3e\"x"}"#))
    }

    @Test func stringKeyIsRawText() throws {
        let mapper = try Fixtures.mapper(Fixtures.designYAML(replacing: "key: [id]", with: "key: [username]"))
        let record = try mapper.map(change(.insert, new: Fixtures.adaRow), transaction: Fixtures.transaction)[0]
        #expect(Fixtures.text(record.key) == "ada")
    }

    @Test func primaryKeyFromTheDatabase() throws {
        let yaml = Fixtures.designYAML(replacing: "    key: [id]\n", with: "")
        #expect(try Fixtures.configuration(yaml).tableMappings[0].key == nil)
        let users = QualifiedName(schema: "public", table: "users")
        let mapper = try Fixtures.mapper(yaml, primaryKeys: [users: ["id"]])
        #expect(Fixtures.text(try mapper.map(change(.insert, new: Fixtures.adaRow), transaction: Fixtures.transaction)[0].key) == "42")

        #expect(throws: ConfigurationError.self) { try Fixtures.mapper(yaml) }
        do {
            _ = try Fixtures.mapper(yaml, primaryKeys: [users: ["password_hash"]])
            Issue.record("a primary key outside fields must be refused")
        } catch let error as ConfigurationError {
            #expect(error.kind == .databaseMismatch)
            #expect(error.keyPath == "mappings[0].fields")
            #expect(error.description.contains("'password_hash'"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func nullOrUnavailableKeyIsAnError() throws {
        var row = Fixtures.adaRow
        row[0] = .value(.null)
        #expect(throws: MappingError(table: QualifiedName(schema: "public", table: "users"), operation: "insert", reason: .nullKey(column: "id"))) {
            try mapper.map(change(.insert, new: row), transaction: Fixtures.transaction)
        }
        var toast = Fixtures.adaRow
        toast[0] = .unchangedToast
        #expect(throws: MappingError(table: QualifiedName(schema: "public", table: "users"), operation: "update", reason: .unavailableKey(column: "id"))) {
            try mapper.map(change(.update, new: toast), transaction: Fixtures.transaction)
        }
        // A delete keyed on a column outside the replica identity.
        let byName = try Fixtures.mapper(Fixtures.designYAML(replacing: "key: [id]", with: "key: [email]"))
        let oldKey: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]
        #expect(throws: MappingError.self) {
            try byName.map(change(.delete, old: oldKey, oldKind: .key), transaction: Fixtures.transaction)
        }
    }

    @Test func droppedOrRenamedColumnIsUnavailableNeverNullNorAnotherColumn() throws {
        // `email` was renamed to `email_address` while streaming: the value is
        // not known under the mapped name, so it is left out and listed.
        var relation = Fixtures.usersRelation()
        relation.columns[5].name = "email_address"
        let change = RowChange(operation: .insert, relation: relation, new: Fixtures.adaRow, old: nil, oldKind: nil, ordinal: 0)
        let record = try #require(try mapper.map(change, transaction: Fixtures.transaction).first)
        #expect(Fixtures.text(record.value) == expected("UserRegistered", """
        "data":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace"},"unavailableFields":["email"]}
        """))
        #expect(mapper.missingMappedColumns(in: relation) == ["email"])
        #expect(mapper.missingMappedColumns(in: Fixtures.usersRelation()).isEmpty)

        // A dropped column: the row is one value shorter.
        var dropped = Fixtures.usersRelation()
        dropped.columns.remove(at: 4)
        var row = Fixtures.adaRow
        row.remove(at: 4)
        let update = RowChange(operation: .update, relation: dropped, new: row, old: nil, oldKind: nil, ordinal: 0)
        let updated = try #require(try mapper.map(update, transaction: Fixtures.transaction).first)
        #expect(Fixtures.text(updated.value)!.hasSuffix("""
        "data":{"userId":42,"username":"ada","firstName":"Ada","email":"ada@example.com"},"unavailableFields":["lastName"]}
        """))
    }

    @Test func missingKeyColumnIsAnErrorNamingTableAndColumn() throws {
        var relation = Fixtures.usersRelation()
        relation.columns[0].name = "user_id"
        let change = RowChange(operation: .insert, relation: relation, new: Fixtures.adaRow, old: nil, oldKind: nil, ordinal: 0)
        do {
            _ = try mapper.map(change, transaction: Fixtures.transaction)
            Issue.record("a renamed key column must be an error")
        } catch {
            #expect(error.reason == .missingColumn("id"))
            #expect(error.description.contains("public.users"))
            #expect(error.description.contains("'id'"))
            #expect(!error.description.contains("ada@example.com"))
            #expect(!error.description.contains("argon2"))
        }
    }

    @Test func malformedChangesAreErrors() throws {
        #expect(throws: MappingError.self) { try mapper.map(change(.insert), transaction: Fixtures.transaction) }
        #expect(throws: MappingError.self) { try mapper.map(change(.delete), transaction: Fixtures.transaction) }
        #expect(throws: MappingError.self) {
            try mapper.map(change(.insert, new: Array(Fixtures.adaRow.dropLast())), transaction: Fixtures.transaction)
        }
    }

    // MARK: Value kinds inside envelopes

    @Test func everyEnvelopeIsValidJSON() throws {
        let yaml = """
        postgres: {url: "postgres://localhost/app"}
        kafka: {bootstrap_servers: "k:9092"}
        mappings:
          - table: t
            topic: t
            key: [id]
            events: {insert: I, update: U, delete: D}
            fields: {id: id, a: a, b: b, "weird \\"col\\"": "we\\"ird\\u0001"}
        """
        let mapper = try Fixtures.mapper(yaml)
        let relation = Relation(id: 1, schema: "public", name: "t", replicaIdentity: .full, columns: [
            .init(name: "id", typeOID: 20, typeModifier: -1, isKey: true),
            .init(name: "a", typeOID: 0, typeModifier: -1, isKey: true),
            .init(name: "b", typeOID: 0, typeModifier: -1, isKey: true),
            .init(name: "weird \"col\"", typeOID: 0, typeModifier: -1, isKey: true),
        ])
        let date = PostgresDate(year: 2026, month: 11, day: 23)
        let time = PostgresTime(hour: 5, minute: 12, second: 0, microsecond: 123_456)
        let values: [PostgresValue] = [
            .null, .bool(true), .int(-1), .double(.nan), .double(-0.0), .double(1e-300), .double(.infinity), .numeric("1.000"),
            .string("tab\there \u{0}\u{1F} \"q\" \\ ünï 😀"), .json(#"{"nested": [1, {"x": null}]}"#), .json("[]"), .bytes([0, 255, 128]),
            .date(date), .time(time), .timestamp(date, time), .timestampTZ(date, time),
            .array([.array([.int(1), .int(2)]), .array([.null, .int(4)])]), .array([]),
        ]
        var ordinal = 0
        for a in values {
            for operation: RowChange.Operation in [.insert, .update, .delete] {
                let weird: RowValue = operation == .insert ? .value(.string("n")) : .unchangedToast
                let new: Row = [.value(.int(1)), .value(a), .value(values[(ordinal * 7) % values.count]), weird]
                let old: Row = [.value(.int(1)), .value(values[ordinal % values.count]), .value(a), .value(.string("w"))]
                let change = RowChange(operation: operation, relation: relation, new: operation == .delete ? nil : new,
                                       old: operation == .insert ? nil : old, oldKind: operation == .insert ? nil : .full, ordinal: ordinal)
                ordinal += 1
                for record in try mapper.map(change, transaction: Fixtures.transaction) {
                    let value = try #require(record.value)
                    let object = try JSONSerialization.jsonObject(with: Data(value))
                    let dictionary = try #require(object as? [String: Any])
                    #expect(dictionary["eventId"] as? String == record.eventID)
                    let source = try #require(dictionary["source"] as? [String: Any])
                    #expect(source["lsn"] as? String == "0/16B3748")
                    #expect(source["txId"] as? Int == 1234)
                    let data = try #require(dictionary["data"] as? [String: Any])
                    #expect(data["a"] != nil)
                    #expect(data["we\"ird\u{1}"] != nil)
                }
            }
        }
    }

    @Test func envelopeKeyOrderFollowsTheDesign() throws {
        var new = Fixtures.adaRow
        new[4] = .unchangedToast
        let record = try single(change(.update, identity: .full, new: new, old: Fixtures.adaRow, oldKind: .key))
        let text = try #require(Fixtures.text(record.value))
        let keys = ["\"eventId\"", "\"eventType\"", "\"schemaVersion\"", "\"occurredAt\"", "\"source\"", "\"database\"", "\"schema\"",
                    "\"table\"", "\"lsn\"", "\"txId\"", "\"data\"", "\"previous\"", "\"unavailableFields\""]
        let positions = keys.map { text.firstRange(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(text)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }
}
