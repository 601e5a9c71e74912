@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

/// The `debezium` format against the examples in Debezium's PostgreSQL
/// connector documentation ("Data change events": the key, _create_, _update_
/// and _delete_ values of its `customers` table, `{debezium-version}` 2.6+,
/// JSON converter; the `payload` part is what `schemas.enable=false` writes).
/// The same change of WalBridge's `users` fixture must have the same
/// structure: the same field names and nesting, the same JSON type per field,
/// null where the example is null, and `before`/`after` holding the same part
/// of the row (nothing, the key columns, or every column). Column names differ
/// (the fixture publishes `userId` for `id`); values are not compared.
@Suite("Debezium format against Debezium's documented examples")
struct DebeziumDocumentedExamplesTests {
    /// Debezium's documented _create_ value payload.
    static let documentedCreate = #"""
    {"before": null,
     "after": {"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
     "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
                "ts_ms": 1559033904863, "ts_us": 1559033904863123, "ts_ns": 1559033904863123000,
                "snapshot": true, "db": "postgres", "sequence": "[\"24023119\",\"24023128\"]",
                "schema": "public", "table": "customers", "txId": 555, "lsn": 24023128, "xmin": null},
     "op": "c", "ts_ms": 1559033904863, "ts_us": 1559033904863841, "ts_ns": 1559033904863841257}
    """#
    /// Debezium's documented _update_ value payload (REPLICA IDENTITY DEFAULT).
    static let documentedUpdate = #"""
    {"before": {"id": 1},
     "after": {"id": 1, "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
     "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
                "ts_ms": 1559033904863, "ts_us": 1559033904863769, "ts_ns": 1559033904863769000,
                "snapshot": false, "db": "postgres", "schema": "public", "table": "customers",
                "txId": 556, "lsn": 24023128, "xmin": null},
     "op": "u", "ts_ms": 1465584025523, "ts_us": 1465584025523514, "ts_ns": 1465584025523514964}
    """#
    /// Debezium's documented _delete_ value payload (REPLICA IDENTITY DEFAULT).
    static let documentedDelete = #"""
    {"before": {"id": 1},
     "after": null,
     "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
                "ts_ms": 1559033904863, "ts_us": 1559033904863852, "ts_ns": 1559033904863852000,
                "snapshot": false, "db": "postgres", "schema": "public", "table": "customers",
                "txId": 556, "lsn": 46523128, "xmin": null},
     "op": "d", "ts_ms": 1465581902461, "ts_us": 1465581902461496, "ts_ns": 1465581902461496187}
    """#
    /// Debezium's documented key payload: an object of the primary-key columns.
    static let documentedKey = #"{"id": 1}"#

    /// What a row field holds: null, the key columns alone, or every column.
    enum RowPart: Equatable { case null, keyOnly, wholeRow }

    static func rowPart(_ value: Any?, keys: Set<String>, columns: Int) throws -> RowPart {
        if value is NSNull { return .null }
        let row = try #require(value as? [String: Any])
        if Set(row.keys) == keys { return .keyOnly }
        try #require(row.count == columns, "a row of \(row.count) fields is neither the key nor the whole row")
        return .wholeRow
    }

    /// A JSON value's type the way a consumer parsing the record sees it.
    static func kind(_ value: Any?) -> String {
        switch value {
        case nil: "absent"
        case is NSNull: "null"
        case is String: "string"
        case let number as NSNumber:
            if ["c", "B"].contains(String(cString: number.objCType)) { "boolean" }
            else { number.stringValue.contains(".") ? "float" : "integer" }
        case is [String: Any]: "object"
        case is [Any]: "array"
        default: "other"
        }
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Fields WalBridge writes that a documented example leaves out (with the reason in docs/events.md).
    static let addedToEnvelope: Set<String> = ["transaction"]   // Debezium writes it too, null unless provide.transaction.metadata
    static let addedToSource: Set<String> = ["sequence"]        // in the documented create example, left out of the update and delete ones

    /// Compares WalBridge's value with a documented one field by field.
    static func expectSameStructure(_ ours: [String: Any], as documented: [String: Any], snapshot: Bool,
                                    before: RowPart, after: RowPart, documentedBefore: RowPart) throws {
        #expect(Set(ours.keys).subtracting(documented.keys) == addedToEnvelope.subtracting(documented.keys))
        #expect(Set(documented.keys).subtracting(ours.keys).isEmpty, "missing \(Set(documented.keys).subtracting(ours.keys))")
        for (name, value) in documented where name != "before" && name != "after" && name != "source" {
            #expect(kind(ours[name]) == kind(value), "\(name): \(kind(ours[name])) vs documented \(kind(value))")
        }
        #expect(ours["op"] as? String == documented["op"] as? String)
        #expect(ours["transaction"] is NSNull)

        let source = try #require(ours["source"] as? [String: Any])
        let documentedSource = try #require(documented["source"] as? [String: Any])
        #expect(Set(source.keys).subtracting(documentedSource.keys) == addedToSource.subtracting(documentedSource.keys))
        #expect(Set(documentedSource.keys).subtracting(source.keys).isEmpty)
        for (name, value) in documentedSource where name != "snapshot" {
            #expect(kind(source[name]) == kind(value), "source.\(name): \(kind(source[name])) vs documented \(kind(value))")
        }
        // The documentation's examples show a boolean; the connector's schema for
        // `snapshot` is the string enum io.debezium.data.Enum ("true", "last",
        // "false", "incremental"), which is what its records carry.
        #expect(source["snapshot"] as? String == (snapshot ? "true" : "false"))
        #expect(source["connector"] as? String == "postgresql")
        #expect(source["xmin"] is NSNull)

        let keys: Set<String> = ["userId"], documentedKeys: Set<String> = ["id"]
        #expect(try rowPart(ours["before"], keys: keys, columns: 5) == before)
        #expect(try rowPart(ours["after"], keys: keys, columns: 5) == after)
        #expect(try rowPart(documented["before"], keys: documentedKeys, columns: 4) == documentedBefore)
        #expect(try rowPart(documented["after"], keys: documentedKeys, columns: 4) == after)
    }

    static func value(_ change: RowChange) throws -> [String: Any] {
        let mapper = try EventFormatTests.mapper(format: "debezium")
        return try EventFormatTests.json(try EventFormatTests.one(mapper, change).value)
    }

    @Test func keyIsAnObjectOfTheKeyFields() throws {
        let record = try EventFormatTests.one(try EventFormatTests.mapper(format: "debezium"), EventFormatTests.insert())
        let key = try EventFormatTests.json(record.key)
        let documented = try Self.json(Self.documentedKey)
        #expect(key.count == documented.count)
        #expect(Self.kind(key["userId"]) == Self.kind(documented["id"]))
    }

    @Test func create() throws {
        try Self.expectSameStructure(try Self.value(EventFormatTests.insert()), as: try Self.json(Self.documentedCreate),
                                     snapshot: false, before: .null, after: .wholeRow, documentedBefore: .null)
    }

    /// A snapshot row is the create example with `op: r` (Debezium: "r = read
    /// (applies to only snapshots)") and `snapshot` set.
    @Test func snapshotRead() throws {
        var documented = try Self.json(Self.documentedCreate)
        documented["op"] = "r"
        let record = try #require(try EventFormatTests.mapper(format: "debezium")
            .mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: EventFormatTests.context))
        try Self.expectSameStructure(try EventFormatTests.json(record.value), as: documented,
                                     snapshot: true, before: .null, after: .wholeRow, documentedBefore: .null)
    }

    /// Under DEFAULT the example shows `before: {"id": 1}`, but the same page's
    /// "Replica identity" section says an update carries the old key columns
    /// only when their values changed, and pgoutput sends no old row otherwise:
    /// Debezium's `before` is then null, and so is WalBridge's.
    @Test func updateUnderDefault() throws {
        try Self.expectSameStructure(try Self.value(EventFormatTests.update(full: false)), as: try Self.json(Self.documentedUpdate),
                                     snapshot: false, before: .null, after: .wholeRow, documentedBefore: .keyOnly)
    }

    /// Under FULL ("ALTER TABLE customers REPLICA IDENTITY FULL" in the update
    /// example's description) `before` holds every column.
    @Test func updateUnderFull() throws {
        try Self.expectSameStructure(try Self.value(EventFormatTests.update(full: true)), as: try Self.json(Self.documentedUpdate),
                                     snapshot: false, before: .wholeRow, after: .wholeRow, documentedBefore: .keyOnly)
    }

    @Test func deleteUnderDefault() throws {
        try Self.expectSameStructure(try Self.value(EventFormatTests.delete(full: false)), as: try Self.json(Self.documentedDelete),
                                     snapshot: false, before: .keyOnly, after: .null, documentedBefore: .keyOnly)
    }

    @Test func deleteUnderFull() throws {
        try Self.expectSameStructure(try Self.value(EventFormatTests.delete(full: true)), as: try Self.json(Self.documentedDelete),
                                     snapshot: false, before: .wholeRow, after: .null, documentedBefore: .keyOnly)
    }

    /// The values WalBridge can give exactly: the commit time at each precision
    /// and the commit LSN, also inside `sequence`.
    @Test func timesAndPositions() throws {
        let value = try Self.value(EventFormatTests.insert())
        let source = try #require(value["source"] as? [String: Any])
        for object in [value, source] {
            #expect(object["ts_ms"] as? Int64 == 1_795_410_720_123)
            #expect(object["ts_us"] as? Int64 == 1_795_410_720_123_456)
            #expect(object["ts_ns"] as? Int64 == 1_795_410_720_123_456_000)
        }
        #expect(source["lsn"] as? Int == 0x16B3748)
        #expect(source["sequence"] as? String == #"[null,"23803720"]"#)
        let sequence = try #require(try JSONSerialization.jsonObject(with: Data((source["sequence"] as? String ?? "").utf8)) as? [Any])
        #expect(sequence.count == 2 && sequence[0] is NSNull && sequence[1] as? String == "23803720")
    }
}

/// Debezium's "Primary key updates": an update that changes the key is a
/// _delete_ under the old key (header `__debezium.newkey`) and a _create_ under
/// the new one (header `__debezium.oldkey`), with a tombstone between them when
/// tombstones are on.
@Suite("Debezium format: a key change")
struct DebeziumKeyChangeTests {
    static let oldRow: Row = [
        .value(.int(41)), .value(.string("ada")), .value(.string("$argon2id$SECRET")),
        .value(.string("Ada")), .value(.string("Lovelace")), .value(.string("ada@example.com")),
    ]
    /// The old key only (REPLICA IDENTITY DEFAULT sends it when the key changed).
    static let oldKey: Row = [.value(.int(41)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]

    static func keyChange(full: Bool) -> RowChange {
        RowChange(operation: .update, relation: Fixtures.usersRelation(identity: full ? .full : .default), new: EventFormatTests.ada2,
                  old: full ? oldRow : oldKey, oldKind: full ? .full : .key, ordinal: 1)
    }

    @Test(arguments: [false, true])
    func deleteUnderTheOldKeyThenCreateUnderTheNew(full: Bool) throws {
        let mapper = try EventFormatTests.mapper(format: "debezium")
        let records = try mapper.map(Self.keyChange(full: full), transaction: Fixtures.transaction)
        try #require(records.count == 2)
        let (deleted, created) = (records[0], records[1])
        #expect(Fixtures.text(deleted.key) == #"{"userId":41}"#)
        #expect(Fixtures.text(created.key) == #"{"userId":42}"#)
        #expect(Fixtures.text(deleted.header("__debezium.newkey")) == #"{"userId":42}"#)
        #expect(Fixtures.text(created.header("__debezium.oldkey")) == #"{"userId":41}"#)
        #expect(deleted.header("__debezium.oldkey") == nil && created.header("__debezium.newkey") == nil)
        #expect(deleted.eventID == created.eventID, "one change, one event id")

        let deleteValue = try EventFormatTests.json(deleted.value)
        EventFormatTests.expectDebeziumShape(deleteValue, op: "d")
        if full {
            let before = deleteValue["before"] as? [String: Any]
            #expect(before?.count == 5, "the whole old row")
            #expect(before?["userId"] as? Int == 41)
            #expect(before?["lastName"] as? String == "Lovelace")
        } else {
            #expect(deleteValue["before"] as? NSDictionary == ["userId": 41] as NSDictionary)
        }
        #expect(deleteValue["after"] is NSNull)
        let createValue = try EventFormatTests.json(created.value)
        EventFormatTests.expectDebeziumShape(createValue, op: "c")
        #expect(createValue["before"] is NSNull)
        EventFormatTests.expectAda(createValue["after"] as? [String: Any], lastName: "King")
    }

    @Test func tombstoneUnderTheOldKeyBetweenThem() throws {
        let yaml = Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [id]\n    format: debezium\n    tombstones: true\n")
        let records = try Fixtures.mapper(yaml).map(Self.keyChange(full: false), transaction: Fixtures.transaction)
        try #require(records.count == 3)
        #expect(records.map(\.isTombstone) == [false, true, false])
        #expect(records.map { Fixtures.text($0.key) } == [#"{"userId":41}"#, #"{"userId":41}"#, #"{"userId":42}"#])
    }

    /// An update under FULL that keeps the key stays one `u`; so does one
    /// whose mapping key is not in the old key Postgres sent.
    @Test func unchangedOrUnknownOldKeyIsOneUpdate() throws {
        let mapper = try EventFormatTests.mapper(format: "debezium")
        let same = try EventFormatTests.one(mapper, EventFormatTests.update(full: true))
        #expect(try EventFormatTests.json(same.value)["op"] as? String == "u")
        let byUsername = try Fixtures.mapper(Fixtures.designYAML(replacing: "    key: [id]\n", with: "    key: [username]\n    format: debezium\n"))
        let unknown = try EventFormatTests.one(byUsername, Self.keyChange(full: false))
        let value = try EventFormatTests.json(unknown.value)
        #expect(value["op"] as? String == "u")
        #expect(value["before"] is NSNull)
        #expect(Fixtures.text(unknown.key) == #"{"username":"ada"}"#)
    }
}
