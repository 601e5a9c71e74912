import Foundation
import KafkaPublisher
import PostgresReplication
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A delivery violation found by the checker: what, on which key, and when it was seen.
struct Violation: Sendable {
    let kind: String
    let table: String
    let key: Int64
    let detail: String
    let seenAt: Double
}

/// What one table's reader keeps per key.
struct KeyState {
    /// The version of the newest streamed (not snapshot) first copy: 1 after the insert.
    var lastStreamed: Int32 = 0
    var deleted = false
    /// The last record of the key in partition order (duplicates included).
    var lastVersion: Int32 = 0
    var lastIsDelete = false
}

/// Reads one table's topic (every partition, from offset 0) while the soak
/// runs and checks each record as it comes: duplicates identical to their
/// first copy, per key streamed versions in order without gaps, no event
/// after a delete, no snapshot event older than a streamed one. Owned by its
/// reader thread; the results are taken after ``stop()``.
final class TableReader: @unchecked Sendable {
    // @unchecked: every var below is touched only by the reader thread until
    // `finished` is signalled, then only by the thread that waited for it
    // (the semaphore orders the two).
    let table: Int
    let topic: String
    let partitions: Int32
    private let bootstrap: String
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let consumedAt = Mutex<[Int64]>([])   // next offset per partition, shared with the end check
    private let lastRecord = Mutex<Double>(0)
    let recoveries: Recoveries

    var keys: [Int64: KeyState] = [:]
    var firstCopies: [UUID: UInt64] = [:]
    /// Streamed versions skipped when a later one came first (per key): lost, unless they arrive late.
    var gaps: [Int64: Set<Int32>] = [:]
    /// Per partition, the offset and commit LSN of every streamed event's first copy, in offset order.
    var firstOffsets: [[Int64]]
    var firstLSNs: [[UInt64]]
    var violations: [Violation] = []
    var harnessErrors: [String] = []
    var records = 0
    var duplicates = 0
    /// Snapshot duplicates whose bytes differ from the first copy (read again after a restart).
    var snapshotRereads = 0
    var snapshotEvents = 0
    var streamedEvents = 0

    init(table: Int, topic: String, partitions: Int32, bootstrap: String, recoveries: Recoveries) {
        self.table = table
        self.topic = topic
        self.partitions = partitions
        self.bootstrap = bootstrap
        self.recoveries = recoveries
        firstOffsets = Array(repeating: [], count: Int(partitions))
        firstLSNs = Array(repeating: [], count: Int(partitions))
        consumedAt.withLock { $0 = Array(repeating: 0, count: Int(partitions)) }
    }

    /// WALBRIDGE_SOAK_DROP_EVERY=N: the reader ignores every Nth record, so a
    /// run must report them lost (the checker's own test; never set in CI).
    static let dropEvery = Int(ProcessInfo.processInfo.environment["WALBRIDGE_SOAK_DROP_EVERY"] ?? "") ?? 0

    func start() { Thread { [self] in run() }.start() }

    /// The next offset to read, per partition.
    var positions: [Int64] { consumedAt.withLock { $0 } }
    var lastRecordAt: Double { lastRecord.withLock { $0 } }

    func stop() {
        stopping.store(true, ordering: .releasing)
        finished.wait()
    }

    private func run() {
        defer { finished.signal() }
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
                bootstrapServers: bootstrap, properties: ["fetch.max.bytes": "8388608"], clientID: "walbridge-soak-\(topic)"), logger: quietLogger)
            try consumer.assign(topic: topic, partitions: Array(0..<partitions))
        } catch {
            harnessErrors.append("reader of \(topic): \(error)")
            return
        }
        var next = Array(repeating: Int64(0), count: Int(partitions))
        var seen = 0
        while !stopping.load(ordering: .acquiring) {
            let record: ConsumedRecord?
            do { record = try consumer.poll(timeoutMilliseconds: 100) } catch {
                harnessErrors.append("reader of \(topic): \(error)")
                return
            }
            _ = consumer.takeErrors()
            guard let record else { continue }
            let p = Int(record.partition)
            if record.offset != next[p] {
                harnessErrors.append("\(topic)[\(p)]: offsets \(next[p])..<\(record.offset) were trimmed before they were read (the test broker keeps ~5 MB per partition)")
            }
            next[p] = record.offset + 1
            let now = elapsed()
            seen += 1
            // The checker's own test: pretend every Nth record never arrived.
            if Self.dropEvery == 0 || seen % Self.dropEvery != 0 { check(record, at: now) }
            consumedAt.withLock { $0[p] = record.offset + 1 }
            lastRecord.withLock { $0 = now }
            recoveries.recordArrived(at: now)
        }
        consumer.close()
    }

    private func violation(_ kind: String, _ key: Int64, _ detail: String, _ at: Double) {
        violations.append(Violation(kind: kind, table: tableNames[table], key: key, detail: detail, seenAt: at))
    }

    private func check(_ record: ConsumedRecord, at now: Double) {
        records += 1
        guard let value = record.value, let keyBytes = record.key,
              let key = Int64(String(decoding: keyBytes, as: UTF8.self)),
              let idText = record.headers.first(where: { $0.name == "event-id" })?.value,
              let eventID = UUID(uuidString: String(decoding: idText, as: UTF8.self)),
              let typeBytes = record.headers.first(where: { $0.name == "event-type" })?.value
        else {
            harnessErrors.append("\(topic)[\(record.partition)]@\(record.offset): a record without key, value, event-id or event-type")
            return
        }
        let type = String(decoding: typeBytes, as: UTF8.self)
        let isDelete = type == "UserDeleted" || type == "OrderCancelled"
        let isSnapshot = Scan.contains(value, Scan.snapshotTrue)
        let version = Scan.integer(after: Scan.versionField, in: value).map { Int32($0) }
        let hash = Scan.fnv1a(value)
        var state = keys[key] ?? KeyState()
        if let first = firstCopies[eventID] {
            duplicates += 1
            if isSnapshot {
                // A snapshot row published again after a restart keeps its id but is
                // read again: the new chunk's watermark (source.lsn, occurredAt, txId)
                // and the row as it is now (docs/snapshots.md). It must still not be
                // older than what was streamed, nor come after the delete.
                if first != hash { snapshotRereads += 1 }
                if state.deleted {
                    violation("event after delete", key, "snapshot event \(eventID) published again after the key's delete", now)
                } else if let version, version < state.lastStreamed {
                    violation("order", key, "snapshot event \(eventID) published again with version \(version) after streamed version \(state.lastStreamed)", now)
                }
            } else if first != hash {
                violation("duplicate differs", key, "event \(eventID) republished with other value bytes", now)
            }
        } else {
            firstCopies[eventID] = hash
            if isSnapshot {
                snapshotEvents += 1
                if state.deleted {
                    violation("event after delete", key, "snapshot event \(eventID) after the key's delete", now)
                } else if let version, version < state.lastStreamed {
                    violation("order", key, "snapshot event with version \(version) after streamed version \(state.lastStreamed)", now)
                }
            } else {
                streamedEvents += 1
                guard let lsnText = Scan.string(after: Scan.lsnField, in: value), let lsn = LSN(lsnText) else {
                    harnessErrors.append("\(topic)@\(record.offset): no source.lsn")
                    return
                }
                firstOffsets[Int(record.partition)].append(record.offset)
                firstLSNs[Int(record.partition)].append(lsn.value)
                if state.deleted {
                    violation("event after delete", key, "\(type) \(eventID) after the key's delete", now)
                } else if isDelete {
                    state.deleted = true
                } else if let version {
                    let expected = state.lastStreamed + 1
                    if version == expected {
                        state.lastStreamed = version
                    } else if version > expected {
                        gaps[key, default: []].formUnion(expected..<version)
                        state.lastStreamed = version
                    } else if gaps[key]?.remove(version) != nil {
                        violation("order", key, "streamed version \(version) arrived after version \(state.lastStreamed)", now)
                    } else {
                        violation("order", key, "streamed version \(version) again (new event id) after version \(state.lastStreamed)", now)
                    }
                } else {
                    harnessErrors.append("\(topic)@\(record.offset): \(type) without a version")
                }
            }
        }
        state.lastIsDelete = isDelete
        if let version { state.lastVersion = version }
        keys[key] = state
    }
}

/// Byte scans of the envelope (faster than a JSON parser; the fields are fixed).
enum Scan {
    static let snapshotTrue = Array("\"snapshot\":true".utf8)
    static let versionField = Array("\"version\":".utf8)
    static let lsnField = Array("\"lsn\":\"".utf8)

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i + needle.count }
            }
            i += 1
        }
        return nil
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { find(needle, in: haystack) != nil }

    static func integer(after field: [UInt8], in bytes: [UInt8]) -> Int? {
        guard var i = find(field, in: bytes) else { return nil }
        var value = 0
        var any = false
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { value = value * 10 + Int(bytes[i] - 48); i += 1; any = true }
        return any ? value : nil
    }

    static func string(after field: [UInt8], in bytes: [UInt8]) -> String? {
        guard let start = find(field, in: bytes), let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

/// Time to recover from each fault: from its end to the first record read
/// after it, and to the slot's confirmed position passing the WAL position at its end.
final class Recoveries: Sendable {
    struct Entry: Sendable {
        let label: String
        let endedAt: Double
        let walAtEnd: UInt64?
        var firstEventAt: Double?
        var caughtUpAt: Double?
    }
    private let entries = Mutex<[Entry]>([])
    private let waitingForEvent = Atomic<Int>(0)

    func faultEnded(_ label: String, at time: Double, wal: UInt64?) {
        entries.withLock { $0.append(Entry(label: label, endedAt: time, walAtEnd: wal)) }
        waitingForEvent.add(1, ordering: .relaxed)
    }

    func recordArrived(at time: Double) {
        guard waitingForEvent.load(ordering: .relaxed) > 0 else { return }
        entries.withLock { entries in
            for i in entries.indices where entries[i].firstEventAt == nil && entries[i].endedAt <= time {
                entries[i].firstEventAt = time
                waitingForEvent.subtract(1, ordering: .relaxed)
            }
        }
    }

    func slotConfirmed(_ lsn: UInt64, at time: Double) {
        entries.withLock { entries in
            for i in entries.indices where entries[i].caughtUpAt == nil {
                if let wal = entries[i].walAtEnd, lsn >= wal { entries[i].caughtUpAt = time }
            }
        }
    }

    var all: [Entry] { entries.withLock { $0 } }
}
