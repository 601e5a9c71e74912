import EventMapping
import Foundation
import PostgresReplication

/// Which transactions a chunk's SELECT saw, from `pg_current_snapshot()`
/// (`xmin:xmax:xip,...`), in the 32-bit xids pgoutput's Begin messages carry.
struct SnapshotVisibility: Sendable, Hashable {
    var xmin: UInt32
    var xmax: UInt32
    var inProgress: Set<UInt32>

    /// Parses `pg_current_snapshot()`'s text (64-bit xids with epoch).
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]) else { return nil }
        var inProgress: Set<UInt32> = []
        for item in parts[2].split(separator: ",") {
            guard let xid = UInt64(item) else { return nil }
            inProgress.insert(UInt32(truncatingIfNeeded: xid))
        }
        self.init(xmin: UInt32(truncatingIfNeeded: xmin), xmax: UInt32(truncatingIfNeeded: xmax), inProgress: inProgress)
    }

    init(xmin: UInt32, xmax: UInt32, inProgress: Set<UInt32>) {
        self.xmin = xmin; self.xmax = xmax; self.inProgress = inProgress
    }

    /// True when the SELECT did not see transaction `xid`'s changes: it was
    /// still running, or started after the snapshot was taken.
    func isInvisible(_ xid: UInt32) -> Bool {
        !Self.precedes(xid, xmax) || inProgress.contains(xid)
    }

    /// Postgres's `TransactionIdPrecedes` for normal xids: modulo-2³² order.
    static func precedes(_ a: UInt32, _ b: UInt32) -> Bool {
        Int32(bitPattern: a &- b) < 0
    }
}

/// One chunk of a table read by the `SnapshotReader`, waiting in the
/// `SnapshotChannel` for its high watermark to come through the stream.
struct SnapshotChunk: Sendable {
    /// The reader's session nonce and the chunk's number: they name its watermarks.
    var session: UInt64
    var sequence: Int
    /// The table's position in the job.
    var tableIndex: Int
    var relation: Relation
    var rows: [Row]
    /// Rows whose values could not be decoded (left out of `rows`): their key
    /// as text and the reason, for the dead-letter topic.
    var undecodable: [(key: String, reason: String)] = []
    /// The pagination key of the last row, as text (nil for an empty chunk).
    var lastKey: [String]?
    /// True when the table has no rows after this chunk.
    var isLastOfTable: Bool
    var visibility: SnapshotVisibility
}

/// The two kinds of watermark, written with `pg_logical_emit_message` under
/// the prefix `walbridge-snapshot`, with content `low:<session>:<n>` or `high:<session>:<n>`.
struct SnapshotWatermark: Sendable, Hashable {
    static let prefix = "walbridge-snapshot"

    enum Mark: String, Sendable { case low, high }
    var mark: Mark
    var session: UInt64
    var sequence: Int

    var content: String { "\(mark.rawValue):\(String(session, radix: 16)):\(sequence)" }

    init(mark: Mark, session: UInt64, sequence: Int) {
        self.mark = mark; self.session = session; self.sequence = sequence
    }

    init?(content: [UInt8]) {
        let parts = String(decoding: content, as: UTF8.self).split(separator: ":")
        guard parts.count == 3, let mark = Mark(rawValue: String(parts[0])),
              let session = UInt64(parts[1], radix: 16), let sequence = Int(parts[2])
        else { return nil }
        self.init(mark: mark, session: session, sequence: sequence)
    }
}

/// Hands chunks from the reader thread to the pipeline thread, at most
/// `capacity` at a time (the reader waits), and the reader's failure back.
///
/// `@unchecked Sendable`: every stored property is read and written only while
/// holding `condition`'s lock.
final class SnapshotChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [SnapshotChunk] = []
    private var failure: BridgeError?
    private var cancelled = false
    private let capacity: Int

    init(capacity: Int = 2) { self.capacity = capacity }

    /// Reader: queues a chunk, waiting while `capacity` are queued. False when cancelled.
    func put(_ chunk: SnapshotChunk) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        chunks.append(chunk)
        condition.broadcast()
        return true
    }

    /// Pipeline: the chunk a high watermark names, or nil when it is not
    /// (or no longer) this reader's. Drops older chunks, whose marks were lost.
    func take(session: UInt64, sequence: Int) -> SnapshotChunk? {
        condition.lock()
        defer { condition.unlock() }
        var found: SnapshotChunk?
        chunks.removeAll { chunk in
            guard chunk.session == session, chunk.sequence <= sequence else { return false }
            if chunk.sequence == sequence { found = chunk }
            return true
        }
        condition.broadcast()
        return found
    }

    /// Reader: it stopped with an error.
    func fail(_ error: BridgeError) {
        condition.lock()
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// Pipeline: the reader's failure, if any.
    var readerFailure: BridgeError? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Pipeline: stop the reader (at the end of a session).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }
}
