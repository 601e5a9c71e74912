import Foundation

/// The built `walbridge` executable run as a child process, as users run it:
/// for exit statuses, signals, crashes and everything it prints.
final class WalBridgeProcess {
    private var child: ChildProcess!
    let arguments: [String]
    let directory: URL
    private let stdoutURL: URL
    private let stderrURL: URL

    /// The `walbridge` binary next to the test bundle (the test target depends on it).
    static var executable: URL {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        // On Linux the runner is `.build/debug/<Package>PackageTests.xctest`; on macOS a bundle inside it.
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("walbridge").path),
              directory.pathComponents.count > 1 {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("walbridge")
    }

    /// The release build `scripts/test.sh` makes (`WALBRIDGE_RELEASE_BINARY`), for
    /// tests whose volume a debug build would take minutes over; else the debug one.
    static var fastestExecutable: URL {
        if let path = ProcessInfo.processInfo.environment["WALBRIDGE_RELEASE_BINARY"],
           FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        return executable
    }

    /// Starts `walbridge ARGUMENTS` with the environment plus `environment`.
    init(_ arguments: [String], environment: [String: String] = [:], executable: URL = WalBridgeProcess.executable) throws {
        self.arguments = arguments
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("walbridge-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        stdoutURL = directory.appendingPathComponent("stdout")
        stderrURL = directory.appendingPathComponent("stderr")
        child = try ChildProcess(
            executable: executable.path, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            stdout: stdoutURL.path, stderr: stderrURL.path)
    }

    deinit {
        child = nil  // kills and reaps a child still running
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `walbridge ARGUMENTS` to completion and returns (status, stdout, stderr).
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let child = try WalBridgeProcess(arguments, environment: environment)
        let status = try child.waitForExit(timeout: timeout)
        return (status, child.stdout, child.stderr)
    }

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits for the process to end; returns its exit status (128 + n after signal n).
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) throws -> Int32 {
        try child.wait(timeout: timeout)
    }

    /// Waits until standard error contains `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(30)) throws {
        try waitUntil("'\(text)' in walbridge's log", timeout: timeout) {
            if stderr.contains(text) { return true }
            if !child.isRunning {
                throw TestFailure("walbridge exited (status \(child.status ?? -1)) before logging '\(text)'; stdout: \(stdout.suffix(1000)) stderr: \(stderr.suffix(2000))")
            }
            return false
        }
    }

    /// The peak resident set size (VmHWM) in bytes, while it runs.
    func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").compactMap { Int($0) }
            return digits.first.map { $0 * 1024 }
        }
        return nil
    }
}

extension BridgeTestSetup {
    /// Writes the users configuration to a file and returns its path.
    func writeConfiguration(_ yaml: String? = nil, name: String = "walbridge.yaml") throws -> String {
        let path = (checkpointPath as NSString).deletingLastPathComponent + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try (yaml ?? self.yaml()).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
