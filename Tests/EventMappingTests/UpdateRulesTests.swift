@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

/// A `users` table with soft deletes and login times, and its configuration.
enum SoftDeleteFixtures {
    static let header = String(Fixtures.designYAML[..<Fixtures.designYAML.range(of: "mappings:")!.lowerBound])

    static let mapping = """
      - table: public.users
        topic: auth.users.events
        key: [id]
        events:
          insert: UserRegistered
          delete: UserDeleted
          update:
            - event: UserDeleted
              when: {set: deleted_at}
              fields: [userId]
            - event: UserRestored
              when: {cleared: deleted_at}
            - event: UserEmailChanged
              when: {changed: [email]}
            - event: UserUpdated
        skip_unchanged: true
        fields:
          id: userId
          username: username
          email: email
    """

    static func yaml(_ mapping: String = mapping) -> String { header + "mappings:\n" + mapping }

    static func mapper(_ mapping: String = mapping) throws -> EventMapper {
        try Fixtures.mapper(yaml(mapping))
    }

    /// id, username, email, deleted_at, last_login_at, phone.
    static let relation = Relation(id: 16_390, schema: "public", name: "users", replicaIdentity: .full, columns: [
        .init(name: "id", typeOID: 20, typeModifier: -1, isKey: true),
        .init(name: "username", typeOID: 25, typeModifier: -1, isKey: true),
        .init(name: "email", typeOID: 25, typeModifier: -1, isKey: true),
        .init(name: "deleted_at", typeOID: 25, typeModifier: -1, isKey: true),
        .init(name: "last_login_at", typeOID: 25, typeModifier: -1, isKey: true),
        .init(name: "phone", typeOID: 25, typeModifier: -1, isKey: true),
    ])

    static let row: Row = [
        .value(.int(42)), .value(.string("ada")), .value(.string("ada@example.com")), .value(.null),
        .value(.string("2026-11-01 10:00:00+00")), .value(.string("+44 20 7946 0123")),
    ]

    static func column(_ name: String, _ oid: UInt32, notNull: Bool = true) -> ColumnDescription {
        ColumnDescription(name: name, typeName: oid == 20 ? "bigint" : "text", typeOID: oid, valueType: .builtin(oid: oid), notNull: notNull, toastable: oid != 20)
    }

    static let columns: [String: ColumnDescription] = [
        "id": column("id", 20), "username": column("username", 25), "email": column("email", 25),
        "phone": column("phone", 25, notNull: false),
    ]

    static func update(_ new: Row, old: Row? = row, oldKind: OldRowKind? = .full) -> RowChange {
        RowChange(operation: .update, relation: relation, new: new, old: old, oldKind: oldKind, ordinal: 0)
    }

    static func changed(_ changes: [Int: RowValue], from base: Row = row) -> Row {
        var result = base
        for (index, value) in changes { result[index] = value }
        return result
    }

    /// Maps one change, returning its records and what `quiet` reported.
    static func map(_ mapper: EventMapper, _ change: RowChange) throws -> (records: [EventRecord], quiet: [QuietUpdate]) {
        var quiet: [QuietUpdate] = []
        let records = try mapper.map(change, transaction: Fixtures.transaction) { quiet.append($0) }
        return (records, quiet)
    }

    static func json(_ record: EventRecord) throws -> [String: Any] {
        let value = try #require(record.value)
        return try #require(JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])
    }
}

@Suite("Update rules and skip_unchanged")
struct UpdateRulesTests {
    typealias F = SoftDeleteFixtures
    let mapper: EventMapper
    init() throws { mapper = try F.mapper() }

    @Test func softDeleteIsUserDeletedWithItsFieldsOnly() throws {
        let new = F.changed([3: .value(.string("2026-12-01 09:00:00+00"))])
        let (records, quiet) = try F.map(mapper, F.update(new))
        #expect(quiet.isEmpty)
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.eventType == "UserDeleted")
        #expect(Fixtures.text(record.key) == "42")
        let json = try F.json(record)
        #expect(json["data"] as? [String: Int] == ["userId": 42])
        #expect(json["previous"] as? [String: Int] == ["userId": 42])
        #expect(json["changedFields"] as? [String] == [])
        // The event id is the change's, whatever the event's name.
        #expect(record.eventID == mapper.eventID(commitLSN: Fixtures.transaction.commitLSN, ordinal: 0))
        #expect(!Fixtures.text(record.value)!.contains("ada@example.com"))
    }

    @Test func restoreIsUserRestoredWithEveryField() throws {
        let deleted = F.changed([3: .value(.string("2026-12-01 09:00:00+00"))])
        let (records, _) = try F.map(mapper, F.update(F.row, old: deleted))
        let record = try #require(records.first)
        #expect(record.eventType == "UserRestored")
        let data = try #require(F.json(record)["data"] as? [String: Any])
        #expect(Set(data.keys) == ["userId", "username", "email"])
    }

    @Test func emailChange() throws {
        let new = F.changed([2: .value(.string("ada@lovelace.org"))])
        let (records, _) = try F.map(mapper, F.update(new))
        let record = try #require(records.first)
        #expect(record.eventType == "UserEmailChanged")
        #expect(try F.json(record)["changedFields"] as? [String] == ["email"])
    }

    @Test func otherChangeIsUserUpdated() throws {
        let new = F.changed([1: .value(.string("countess"))])
        let (records, _) = try F.map(mapper, F.update(new))
        #expect(records.map(\.eventType) == ["UserUpdated"])
    }

    @Test func loginOnlyUpdateIsSkipped() throws {
        let new = F.changed([4: .value(.string("2026-12-02 03:00:00+00"))])
        let (records, quiet) = try F.map(mapper, F.update(new))
        #expect(records.isEmpty)
        #expect(quiet == [.unchanged])
        // An update of a column nothing reads (phone is not mapped) too.
        let phone = F.changed([5: .value(.string("+44 20 0000 0000"))])
        #expect(try F.map(mapper, F.update(phone)).quiet == [.unchanged])
    }

    @Test func withoutSkipUnchangedALoginIsUserUpdated() throws {
        let mapper = try F.mapper(F.mapping.replacingOccurrences(of: "    skip_unchanged: true\n", with: ""))
        let new = F.changed([4: .value(.string("2026-12-02 03:00:00+00"))])
        #expect(try F.map(mapper, F.update(new)).records.map(\.eventType) == ["UserUpdated"])
    }

    @Test func unmatchedUpdatePublishesNothing() throws {
        let mapper = try F.mapper(F.mapping.replacingOccurrences(of: "        - event: UserUpdated\n", with: ""))
        let new = F.changed([1: .value(.string("countess"))])
        let (records, quiet) = try F.map(mapper, F.update(new))
        #expect(records.isEmpty)
        #expect(quiet == [.unmatched])
    }

    @Test func combinedConditionsMustAllHold() throws {
        let mapping = F.mapping.replacingOccurrences(of: """
                - event: UserDeleted
                  when: {set: deleted_at}
        """, with: """
                - event: UserDeletedWithEmail
                  when: {set: deleted_at, changed: [email, username]}
                - event: UserDeleted
                  when: {set: deleted_at}
        """)
        let mapper = try F.mapper(mapping)
        let both = F.changed([3: .value(.string("2026-12-01 09:00:00+00")), 2: .value(.string("gone@example.com"))])
        #expect(try F.map(mapper, F.update(both)).records.map(\.eventType) == ["UserDeletedWithEmail"])
        let onlyDeleted = F.changed([3: .value(.string("2026-12-01 09:00:00+00"))])
        #expect(try F.map(mapper, F.update(onlyDeleted)).records.map(\.eventType) == ["UserDeleted"])
    }

    @Test func nullToNullIsNeitherSetNorCleared() throws {
        // deleted_at NULL → NULL and email unchanged: only the username changed.
        let new = F.changed([1: .value(.string("countess"))])
        #expect(try F.map(mapper, F.update(new)).records.map(\.eventType) == ["UserUpdated"])
        // A value → another value is changed, but neither set nor cleared.
        let deleted = F.changed([3: .value(.string("2026-12-01 09:00:00+00"))])
        let redeleted = F.changed([3: .value(.string("2026-12-05 09:00:00+00"))])
        #expect(try F.map(mapper, F.update(redeleted, old: deleted)).records.map(\.eventType) == ["UserUpdated"])
    }

    @Test func unchangedToastComparesAsUnchanged() throws {
        // email not sent (an unchanged TOAST value) and only last_login_at changed: skipped.
        let new = F.changed([2: .unchangedToast, 4: .value(.string("2026-12-02 03:00:00+00"))])
        #expect(try F.map(mapper, F.update(new)).quiet == [.unchanged])
        // email not sent, deleted_at set: the soft delete, not an email change.
        let deleted = F.changed([2: .unchangedToast, 3: .value(.string("2026-12-01 09:00:00+00"))])
        let record = try #require(try F.map(mapper, F.update(deleted)).records.first)
        #expect(record.eventType == "UserDeleted")
        // The rule event that carries email takes it from the full old row.
        let username = F.changed([2: .unchangedToast, 1: .value(.string("countess"))])
        let updated = try #require(try F.map(mapper, F.update(username)).records.first)
        #expect((try F.json(updated)["data"] as? [String: Any])?["email"] as? String == "ada@example.com")
    }

    @Test func oldRowNotSentIsAMappingError() throws {
        let new = F.changed([2: .value(.string("ada@lovelace.org"))])
        #expect {
            try F.map(mapper, F.update(new, old: nil, oldKind: nil))
        } throws: { error in
            guard let error = error as? MappingError, error.reason == .oldRowNotSent else { return false }
            return error.description.contains(#"ALTER TABLE "public"."users" REPLICA IDENTITY FULL"#)
        }
    }

    @Test func updateNameWithSkipUnchanged() throws {
        let mapping = F.mapping.replacingOccurrences(
            of: F.mapping[F.mapping.range(of: "      update:\n")!.lowerBound..<F.mapping.range(of: "    skip_unchanged")!.lowerBound],
            with: "      update: UserUpdated\n")
        let mapper = try F.mapper(mapping)
        #expect(try F.map(mapper, F.update(F.changed([4: .value(.string("x"))]))).quiet == [.unchanged])
        #expect(try F.map(mapper, F.update(F.changed([2: .value(.string("x@example.com"))]))).records.map(\.eventType) == ["UserUpdated"])
    }

    @Test func insertsAndDeletesAreUntouched() throws {
        let insert = RowChange(operation: .insert, relation: F.relation, new: F.row, old: nil, oldKind: nil, ordinal: 1)
        #expect(try F.map(mapper, insert).records.map(\.eventType) == ["UserRegistered"])
        let delete = RowChange(operation: .delete, relation: F.relation, new: nil, old: F.row, oldKind: .full, ordinal: 2)
        let record = try #require(try F.map(mapper, delete).records.first)
        #expect(record.eventType == "UserDeleted")
        #expect(Set((try F.json(record)["data"] as? [String: Any])?.keys ?? [:].keys) == ["userId", "username", "email"])
    }

    @Test func schemaPerRuleEvent() throws {
        let configuration = try Fixtures.configuration(F.yaml())
        let columns = F.columns
        let schemas = try EventSchemaGenerator.schemas(
            configuration: configuration, columns: [QualifiedName(schema: "public", table: "users"): columns],
            keyColumns: [QualifiedName(schema: "public", table: "users"): ["id"]])
        #expect(Set(schemas.map(\.eventType)) == ["UserRegistered", "UserDeleted", "UserRestored", "UserEmailChanged", "UserUpdated"])
        let restored = try #require(schemas.first { $0.eventType == "UserRestored" })
        #expect(restored.schema["properties"]?["eventType"]?["const"] == .string("UserRestored"))
        #expect(restored.origin.contains("update rule"))
        // UserDeleted: the delete (every field) and the soft delete (userId) share one schema.
        let deleted = try #require(schemas.first { $0.eventType == "UserDeleted" })
        #expect(deleted.origin.contains("delete on public.users") && deleted.origin.contains("update rule"))
    }

    @Test func ruleFieldsOnlySchema() throws {
        let mapping = F.mapping.replacingOccurrences(of: "      delete: UserDeleted\n", with: "")
        let configuration = try Fixtures.configuration(F.yaml(mapping))
        let columns = F.columns
        let schemas = try EventSchemaGenerator.schemas(
            configuration: configuration, columns: [QualifiedName(schema: "public", table: "users"): columns],
            keyColumns: [QualifiedName(schema: "public", table: "users"): ["id"]])
        let deleted = try #require(schemas.first { $0.eventType == "UserDeleted" })
        guard case .object(let properties)? = deleted.schema["properties"]?["data"]?["properties"] else {
            Issue.record("no data properties"); return
        }
        #expect(properties.map(\.0) == ["userId"])
    }
}
