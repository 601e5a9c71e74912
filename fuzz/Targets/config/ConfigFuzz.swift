@testable import Configuration

/// Fuzz entry point: the YAML configuration loader
/// (`BridgeConfiguration.parse(yaml:source:environment:)`), with Yams under it.
///
/// Input: the file's bytes. `${NAME}` finds two variables; `${file:…}`
/// reads no file (a fuzzer must not open whatever path it writes) but gets
/// the same short text for every path. A typed `ConfigurationError` is expected.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? BridgeConfiguration.parse(
        yaml: text, source: "fuzz.yaml", environment: ["PGPASSWORD": "secret", "EMPTY": ""],
        readFile: { $0.hasSuffix("missing") ? nil : "file-secret\n" })
    return 0
}
