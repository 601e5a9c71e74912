import Foundation
import PostgresReplication
import Testing
import WalBridge

@Suite("CheckpointStore")
struct CheckpointStoreTests {
    let directory = NSTemporaryDirectory() + "walbridge-checkpoint-\(UInt64.random(in: 0..<UInt64.max))"

    @Test("a saved checkpoint loads back, in the checkpoint file's JSON format")
    func roundTrip() throws {
        let store = CheckpointStore(path: directory + "/nested/checkpoint.json")
        #expect(try store.load() == nil, "no file yet means no checkpoint")
        let checkpoint = Checkpoint(systemID: "7312345678901234567", slot: "walbridge", lsn: LSN("1/16B3748")!,
                                    updatedAt: Date(timeIntervalSince1970: 1_800_000_000))
        try store.save(checkpoint)
        #expect(try store.load() == checkpoint)
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        #expect(text.hasPrefix(#"{"version": 1, "systemId": "7312345678901234567", "slot": "walbridge", "lsn": "1/16B3748", "updatedAt": ""#))
        #expect(!FileManager.default.fileExists(atPath: store.path + ".tmp"), "the temporary file was renamed away")
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test("a corrupt or truncated file is refused, never read as 'start from scratch'",
          arguments: ["", "{", #"{"version": 1, "systemId": "1", "slot": "s""#, "not json", #"{"version": 1}"#,
                      #"{"version": 1, "systemId": "1", "slot": "s", "lsn": "nonsense"}"#])
    func corrupt(content: String) throws {
        let path = directory + "-\(content.count).json"
        try content.write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: CheckpointError.self) { try CheckpointStore(path: path).load() }
        #expect(error?.isIOFailure == false)
        #expect(error?.description.contains("not a valid WalBridge checkpoint") == true)
    }

    @Test("another version is refused with a clear message")
    func otherVersion() throws {
        let path = directory + "-v2.json"
        try #"{"version": 2, "systemId": "1", "slot": "s", "lsn": "0/1"}"#.write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: CheckpointError.self) { try CheckpointStore(path: path).load() }
        #expect(error?.description.contains("version 2 is not supported") == true)
    }
}
