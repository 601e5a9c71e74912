import EventMapping
import Foundation
import PostgresReplication

/// How `walbridge snapshot` asks a running WalBridge to backfill: a small JSON
/// file next to the checkpoint (`<checkpoint>.snapshot-request`), written
/// atomically. The running bridge picks it up within a second, records the
/// job in the checkpoint and removes the file; or, when it cannot run the
/// request, writes its reason to `<checkpoint>.snapshot-request.rejected`.
///
/// A file beside the checkpoint, not a signalling table or a message in the
/// WAL: only who may write the bridge's own state directory can ask, and the
/// `--where` SQL never travels through the database.
public struct SnapshotRequestFile: Sendable {
    /// One request.
    public struct Request: Sendable, Hashable {
        /// Becomes the job's id (and so part of its events' ids).
        public var id: String
        public var tables: [QualifiedName]
        public var filter: String?

        public init(id: String = UUID().uuidString.lowercased(), tables: [QualifiedName], filter: String?) {
            self.id = id; self.tables = tables; self.filter = filter
        }
    }

    public let path: String
    public var rejectionPath: String { path + ".rejected" }

    public init(checkpointPath: String) {
        path = checkpointPath + ".snapshot-request"
    }

    /// Writes the request (replacing any older one) and clears an old rejection.
    public func write(_ request: Request) throws {
        try? FileManager.default.removeItem(atPath: rejectionPath)
        var object: [String: Any] = ["id": request.id, "tables": request.tables.map(\.description)]
        if let filter = request.filter { object["where"] = filter }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The waiting request, if any. A file that is not a request is reported as a rejection.
    func read() -> Result<Request, BridgeError>? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let id = object["id"] as? String, let tableTexts = object["tables"] as? [String]
        else { return .failure(BridgeError(.configuration, "\(path) is not a snapshot request written by `walbridge snapshot`")) }
        var tables: [QualifiedName] = []
        for text in tableTexts {
            guard let table = try? QualifiedName.parse(text) else {
                return .failure(BridgeError(.configuration, "\(path): '\(text)' is not a table name"))
            }
            tables.append(table)
        }
        return .success(Request(id: id, tables: tables, filter: object["where"] as? String))
    }

    /// The bridge took the request.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The bridge cannot run the request: say why, and drop it.
    func reject(_ reason: String) {
        try? Data(reason.utf8).write(to: URL(fileURLWithPath: rejectionPath), options: .atomic)
        remove()
    }

    /// Whether the request is still waiting.
    public var isPending: Bool { FileManager.default.fileExists(atPath: path) }

    /// The reason the bridge gave for refusing the last request, if it did.
    public var rejection: String? {
        FileManager.default.contents(atPath: rejectionPath).map { String(decoding: $0, as: UTF8.self) }
    }
}
