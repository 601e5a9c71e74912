import Foundation
@testable import EventMapping
import PostgresReplication
import Testing

@Suite("Snapshot events")
struct SnapshotEventTests {
    let context = SnapshotEventContext(jobID: "0b7c5c4e-1111-4c3a-9e0f-1a2b3c4d5e6f", transaction: Fixtures.transaction)

    @Test("a snapshot row is the insert event's envelope with the snapshot event type and source.snapshot true")
    func envelope() throws {
        let yaml = Fixtures.designYAML + "\n    snapshot: {event: UserSnapshotted}"
        let mapper = try Fixtures.mapper(yaml)
        let record = try #require(try mapper.mapSnapshotRow(Fixtures.adaRow, relation: Fixtures.usersRelation(), context: context))
        let text = try #require(Fixtures.text(record.value))
        #expect(record.eventType == "UserSnapshotted")
        #expect(Fixtures.text(record.key) == "42")
        #expect(text.contains(#""eventType":"UserSnapshotted""#))
        #expect(text.contains(#""source":{"database":"auth","schema":"public","table":"users","lsn":"0/16B3748","txId":1234,"snapshot":true}"#))
        #expect(text.contains(#""data":{"userId":42,"username":"ada","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}"#))
        #expect(!text.contains("argon2id"), "an unmapped column never leaves the database")
        #expect(record.headers.first { $0.name == "event-type" }.map { Fixtures.text($0.value) } == "UserSnapshotted")

        let streamed = try mapper.map(RowChange(operation: .insert, relation: Fixtures.usersRelation(), new: Fixtures.adaRow,
                                                old: nil, oldKind: nil, ordinal: 0), transaction: Fixtures.transaction)
        #expect(!(Fixtures.text(streamed[0].value) ?? "").contains("snapshot"), "streamed events carry no snapshot field")
    }

    @Test("without snapshot.event the insert event is used; the id depends on job, table and key only")
    func defaultsAndIDs() throws {
        let mapper = try Fixtures.mapper()
        let relation = Fixtures.usersRelation()
        let first = try #require(try mapper.mapSnapshotRow(Fixtures.adaRow, relation: relation, context: context))
        #expect(first.eventType == "UserRegistered")
        var later = context
        later.transaction = TransactionInfo(commitLSN: LSN(0x2000000), commitTimeMicros: 0, xid: 99)
        let again = try #require(try mapper.mapSnapshotRow(Fixtures.adaRow, relation: relation, context: later))
        #expect(again.eventID == first.eventID, "a chunk sent again after a restart (other watermark) keeps its ids")
        #expect(first.eventID == UUIDv5.make(namespace: UUIDv5.walBridgeNamespace,
                                            name: "\(Fixtures.systemID)/auth/snapshot/\(context.jobID)/public.users/42"))
        var otherJob = context
        otherJob.jobID = "another"
        #expect(try mapper.mapSnapshotRow(Fixtures.adaRow, relation: relation, context: otherJob)?.eventID != first.eventID)
    }

    @Test("touchedKeys names the new and the old key of a change (both when an update moves the key)")
    func touchedKeys() throws {
        let mapper = try Fixtures.mapper()
        var moved = Fixtures.adaRow
        moved[0] = .value(.int(43))
        let oldKey: Row = [.value(.int(42)), .value(.null), .value(.null), .value(.null), .value(.null), .value(.null)]
        let update = RowChange(operation: .update, relation: Fixtures.usersRelation(), new: moved, old: oldKey, oldKind: .key, ordinal: 0)
        #expect(mapper.touchedKeys(update).map { String(decoding: $0, as: UTF8.self) } == ["43", "42"])
        let delete = RowChange(operation: .delete, relation: Fixtures.usersRelation(), new: nil, old: oldKey, oldKind: .key, ordinal: 0)
        #expect(mapper.touchedKeys(delete).map { String(decoding: $0, as: UTF8.self) } == ["42"])
        let other = Relation(id: 1, schema: "public", name: "orders", replicaIdentity: .default, columns: [])
        #expect(mapper.touchedKeys(RowChange(operation: .delete, relation: other, new: nil, old: [], oldKind: .key, ordinal: 0)).isEmpty)
    }
}
