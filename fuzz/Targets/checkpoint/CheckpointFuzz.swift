import Foundation
@testable import WalBridge

/// Fuzz entry point: the checkpoint file loader (`CheckpointStore.load()`
/// parses the file's bytes with `CheckpointStore.parse(_:path:)`).
///
/// Input: the file's bytes. A typed `CheckpointError` is expected.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    _ = try? CheckpointStore.parse(bytes, path: "fuzz.checkpoint")
    return 0
}
