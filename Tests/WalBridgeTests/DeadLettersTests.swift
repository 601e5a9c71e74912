import EventMapping
import Foundation
import KafkaPublisher
import PostgresReplication
import Testing
@testable import WalBridge

/// The dead-letter records of docs/delivery.md ("never skip, never stall on
/// one bad row"), and the checkpoint writer, without a broker or Postgres.
@Suite("DeadLetters and CheckpointWriter")
struct DeadLettersTests {
    let letters = DeadLetters(topic: "auth.dead-letters", database: "auth")

    func header(_ record: EventRecord, _ name: String) -> String? {
        record.headers.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    @Test("a rejected event goes to the dead-letter topic as it was, with the reason and its topic in headers")
    func rejectedEvent() {
        let failed = FailedRecord(topic: "auth.users.events", key: Array(#"{"userId":42}"#.utf8), value: Array(#"{"eventId":"e1"}"#.utf8))
        let record = letters.record(forRejectedEvent: failed, reason: "broker: topic authorization failed")
        #expect(record.topic == "auth.dead-letters")
        #expect(record.key == failed.key, "the same key: per-key order holds in the dead-letter topic too")
        #expect(record.value == failed.value)
        #expect(header(record, "walbridge-error") == "broker: topic authorization failed")
        #expect(header(record, "walbridge-source-topic") == "auth.users.events")
        #expect(header(record, "content-type") == "application/json")
    }

    @Test("an oversized event keeps its envelope without data and previous, and says why")
    func oversizedEvent() throws {
        let envelope = #"""
        {"eventId":"7d1c","eventType":"UserUpdated","schemaVersion":1,"occurredAt":"2026-12-02T05:00:00Z","source":{"table":"users","lsn":"0/16B3748"},"data":{"email":"a@example.com","bio":"xxxx"},"previous":{"email":"b@example.com"}}
        """#
        let record = letters.record(forOversizedEvent: Array(envelope.utf8), key: Array("k".utf8),
                                    sourceTopic: "auth.users.events", reason: "message size 2000000 exceeds message.max.bytes")
        let value = try #require(record.value)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])
        #expect(Set(object.keys) == ["eventId", "eventType", "schemaVersion", "occurredAt", "source", "error"])
        #expect(object["eventId"] as? String == "7d1c")
        #expect(object["error"] as? String == "message size 2000000 exceeds message.max.bytes")
        #expect((object["source"] as? [String: Any])?["lsn"] as? String == "0/16B3748")
        #expect(record.key == Array("k".utf8))
        #expect(header(record, "walbridge-source-topic") == "auth.users.events")
        // A value that is not an envelope still yields a record that says why.
        let opaque = letters.record(forOversizedEvent: Array("not json".utf8), key: nil, sourceTopic: "t", reason: "too large")
        #expect(opaque.value.map { String(decoding: $0, as: UTF8.self) } == #"{"error":"too large"}"#)
    }

    @Test("the checkpoint writer writes the position and the backfill state the store loads back; an unwritable path is a fatal error")
    func checkpointWriter() throws {
        let directory = NSTemporaryDirectory() + "walbridge-writer-\(UInt64.random(in: 0..<UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = CheckpointStore(path: directory + "/checkpoint.json")
        var snapshot = SnapshotState()
        snapshot.completedInitial = [QualifiedName(schema: "public", table: "users")]
        let writer = CheckpointWriter(store: store, systemID: "7301", slot: "walbridge", initialSnapshot: SnapshotState(), metrics: BridgeMetrics())
        try writer.write(LSN(0x16B3748), snapshot: snapshot)
        let loaded = try #require(try store.load())
        #expect(loaded.lsn == LSN(0x16B3748))
        #expect(loaded.systemID == "7301" && loaded.slot == "walbridge")
        #expect(loaded.slotFollowsCheckpoint)
        #expect(loaded.snapshot.completedInitial == snapshot.completedInitial)
        #expect(writer.writtenSnapshot.completedInitial == snapshot.completedInitial)

        try "".write(toFile: directory + "/file", atomically: true, encoding: .utf8)
        let blocked = CheckpointWriter(store: CheckpointStore(path: directory + "/file/checkpoint.json"), systemID: "7301",
                                       slot: "walbridge", initialSnapshot: SnapshotState(), metrics: BridgeMetrics())
        #expect(throws: BridgeError.self) { try blocked.write(LSN(1), snapshot: SnapshotState()) }
        #expect(blocked.writtenSnapshot.completedInitial.isEmpty, "nothing recorded as written when the write failed")
    }
}
