import EventMapping
import Foundation
import PostgresReplication

/// The last position WalBridge delivered, as stored on disk:
/// `{"version": 1, "systemId": "…", "slot": "…", "lsn": "X/Y", "updatedAt": "…"}`,
/// plus `"snapshot": {…}` while a backfill runs or after an initial one finished,
/// `"gap": {…}` while changes lost with a recreated slot are not yet backfilled,
/// and `"slotFollowsCheckpoint": true`.
///
/// `slotFollowsCheckpoint` says that the WalBridge that wrote the file confirms
/// to the slot only positions already in the file, so its own slot is never
/// ahead of `lsn`: a slot found ahead of it is another slot (dropped and
/// created again, or advanced by hand), and the changes in between are lost.
/// Files written by earlier versions lack it; for them a slot ahead of the
/// file is taken as WalBridge's own, as those versions did.
public struct Checkpoint: Sendable, Hashable {
    public static let currentVersion = 1
    public var systemID: String
    public var slot: String
    public var lsn: LSN
    public var updatedAt: Date
    /// The backfill progress delivered up to `lsn` (and an unhealed slot gap).
    public var snapshot: SnapshotState
    /// The slot was never confirmed past `lsn` (see the type's comment).
    public var slotFollowsCheckpoint: Bool

    public init(systemID: String, slot: String, lsn: LSN, updatedAt: Date = Date(), snapshot: SnapshotState = SnapshotState(),
                slotFollowsCheckpoint: Bool = true) {
        self.systemID = systemID; self.slot = slot; self.lsn = lsn; self.updatedAt = updatedAt; self.snapshot = snapshot
        self.slotFollowsCheckpoint = slotFollowsCheckpoint
    }

    /// Changes lost with a recreated slot and not yet backfilled.
    public var gap: SlotGap? { snapshot.gap }

    /// Why this checkpoint (stored at `path`) cannot be used with Postgres
    /// system `systemID` and slot `slot`, or nil when it can: one for another
    /// system or slot is refused (exit 2), never silently reused.
    public func ownershipProblem(systemID otherSystem: String, slot otherSlot: String, path: String) -> String? {
        if systemID != otherSystem {
            return "checkpoint \(path) belongs to Postgres system \(systemID), but this server is \(otherSystem); point checkpoint.path at this database's checkpoint, or move the file away to start from the slot's position"
        }
        if slot != otherSlot {
            return "checkpoint \(path) belongs to slot '\(slot)', not '\(otherSlot)'; point checkpoint.path at this slot's checkpoint, or move the file away to start from the slot's position"
        }
        return nil
    }
}

/// Why a checkpoint file could not be used. Every case is a configuration
/// problem for the user to look at (exit status 2), except `.io`.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// True for a failed read or write (disk), false for a file that is there but unusable.
    public var isIOFailure: Bool
    public var description: String { "checkpoint \(path): \(reason)" }
}

/// Reads and writes the checkpoint file atomically: write a temporary file in
/// the same directory, fsync it, rename it over the old one, fsync the directory.
/// A reader sees the old file or the new one, never half of one.
public struct CheckpointStore: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The stored checkpoint, or nil when there is no file yet.
    /// - Throws: `CheckpointError` when the file is unreadable, corrupt, truncated or of another version.
    public func load() throws(CheckpointError) -> Checkpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, reason: "cannot read the file; check its permissions", isIOFailure: true)
        }
        return try Self.parse(data, path: path)
    }

    /// The checkpoint in `data`, the contents of the file at `path` (named in errors).
    /// - Throws: `CheckpointError` when the bytes are not a checkpoint of this version.
    static func parse(_ data: Data, path: String) throws(CheckpointError) -> Checkpoint {
        let corrupt = "the file is not a valid WalBridge checkpoint (corrupt or truncated); "
            + "restore it, or move it away to start from the slot's position"
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError(path: path, reason: corrupt, isIOFailure: false)
        }
        guard let version = object["version"] as? Int else {
            throw CheckpointError(path: path, reason: corrupt, isIOFailure: false)
        }
        guard version == Checkpoint.currentVersion else {
            throw CheckpointError(path: path, reason: "version \(version) is not supported (this WalBridge writes version \(Checkpoint.currentVersion))", isIOFailure: false)
        }
        guard let systemID = object["systemId"] as? String, let slot = object["slot"] as? String,
              let lsnText = object["lsn"] as? String, let lsn = LSN(lsnText)
        else {
            throw CheckpointError(path: path, reason: corrupt, isIOFailure: false)
        }
        let updatedAt = (object["updatedAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) } ?? Date(timeIntervalSince1970: 0)
        var snapshot = SnapshotState()
        if let snapshotObject = object["snapshot"] {
            guard let dictionary = snapshotObject as? [String: Any], let state = SnapshotState(jsonObject: dictionary) else {
                throw CheckpointError(path: path, reason: corrupt, isIOFailure: false)
            }
            snapshot = state
        }
        if let gapObject = object["gap"] {
            guard let dictionary = gapObject as? [String: Any], let gap = SlotGap(jsonObject: dictionary) else {
                throw CheckpointError(path: path, reason: corrupt, isIOFailure: false)
            }
            snapshot.gap = gap
        }
        let follows = object["slotFollowsCheckpoint"] as? Bool ?? false
        return Checkpoint(systemID: systemID, slot: slot, lsn: lsn, updatedAt: updatedAt, snapshot: snapshot,
                          slotFollowsCheckpoint: follows)
    }

    /// Writes `checkpoint` durably and atomically, creating the directory if needed.
    public func save(_ checkpoint: Checkpoint) throws(CheckpointError) {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(path: path, reason: "cannot create directory \(directory): \(error.localizedDescription)", isIOFailure: true)
        }
        var text = "{\"version\": \(Checkpoint.currentVersion), \"systemId\": \(JSONWriter.quoted(checkpoint.systemID)), "
            + "\"slot\": \(JSONWriter.quoted(checkpoint.slot)), \"lsn\": \"\(checkpoint.lsn)\", "
            + "\"updatedAt\": \"\(checkpoint.updatedAt.formatted(.iso8601))\""
        if checkpoint.slotFollowsCheckpoint { text += ", \"slotFollowsCheckpoint\": true" }
        if checkpoint.snapshot.hasSnapshotObject,
           let data = try? JSONSerialization.data(withJSONObject: checkpoint.snapshot.jsonObject, options: [.sortedKeys]) {
            text += ", \"snapshot\": " + String(decoding: data, as: UTF8.self)
        }
        if let gap = checkpoint.snapshot.gap,
           let data = try? JSONSerialization.data(withJSONObject: gap.jsonObject, options: [.sortedKeys, .withoutEscapingSlashes]) {
            text += ", \"gap\": " + String(decoding: data, as: UTF8.self)
        }
        text += "}\n"
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("cannot create \(temporary)") }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                close(fd)
                throw ioError("cannot write \(temporary)")
            }
            written += result
        }
        guard fsync(fd) == 0 else { close(fd); throw ioError("cannot fsync \(temporary)") }
        close(fd)
        guard rename(temporary, path) == 0 else { throw ioError("cannot rename \(temporary) to \(path)") }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            defer { close(directoryFD) }
            guard fsync(directoryFD) == 0 else { throw ioError("cannot fsync directory \(directory)") }
        }
    }

    private func ioError(_ what: String) -> CheckpointError {
        CheckpointError(path: path, reason: "\(what): \(String(cString: strerror(errno)))", isIOFailure: true)
    }
}
