import Foundation

/// A minimal HTTP/1.1 client over a POSIX socket for the operations tests: (status, body).
func operationsHTTPGet(port: Int, path: String) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw TestFailure("cannot connect to the metrics listener on 127.0.0.1:\(port)") }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { break }
        response.append(contentsOf: buffer[0..<count])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first, let status = Int(statusText),
          let split = text.range(of: "\r\n\r\n") else { throw TestFailure("not an HTTP response: \(text.prefix(200))") }
    return (status, String(text[split.upperBound...]))
}

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
