import Foundation

/// The value of the unlabelled series `name` in a Prometheus text exposition, or nil.
func prometheusValue(_ exposition: String, _ name: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// Runs the built `walbridge` with `input` on its standard input; returns (status, stdout, stderr).
func runWalBridge(_ arguments: [String], input: String, timeout: Duration = .seconds(60)) throws -> (status: Int32, stdout: String, stderr: String) {
    let directory = NSTemporaryDirectory() + "walbridge-run-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try input.write(toFile: directory + "/stdin", atomically: true, encoding: .utf8)
    let child = try ChildProcess(
        executable: WalBridgeProcess.executable.path, arguments: arguments, environment: ProcessInfo.processInfo.environment,
        stdin: directory + "/stdin", stdout: directory + "/stdout", stderr: directory + "/stderr")
    let status = try child.wait(timeout: timeout)
    let out = (try? String(contentsOfFile: directory + "/stdout", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? ""
    return (status, out, err)
}

extension BridgeTestSetup {
    /// The CA and an unrelated CA that `scripts/start-postgres.sh` made for the test cluster.
    static func certificate(_ name: String) throws -> String {
        let path = TestDatabase.socketDirectory + "/tls/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestFailure("\(path) is missing: run `bash scripts/start-postgres.sh`, which makes the test CA and turns on TLS")
        }
        return path
    }

    /// `bridgeURL` over TLS, verifying the server against `rootCertificate`.
    func tlsURL(rootCertificate: String) -> String {
        database.bridgeURL + "?sslmode=verify-full&sslrootcert=" + rootCertificate
    }

    /// The users configuration with `url` in place of the plain URL and `topLevel` YAML prepended.
    func operationsYAML(url: String? = nil, topLevel: String = "") -> String {
        var text = yaml(mappingExtra: "")
        if let url { text = text.replacingOccurrences(of: "url: \(database.bridgeURL)\n", with: "url: \"\(url)\"\n") }
        return topLevel + "\n" + text
    }
}
