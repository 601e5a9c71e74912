import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starts and stops the `walbridge run` child: restarts it after a fault, and
/// by itself (counted) when it exits without being told to.
final class BridgeSupervisor: Sendable {
    private struct State {
        var process: Process?
        /// Stopped on purpose (a fault or the end): not restarted by the watcher.
        var held = false
        var starts = 0
        var unexpectedExits: [String] = []
    }

    private let binary: String
    private let config: String
    private let log: FileHandle
    private let state = Mutex(State())
    private let finished = Atomic<Bool>(false)
    let report: @Sendable (String) -> Void

    init(binary: String, config: String, logPath: String, report: @escaping @Sendable (String) -> Void) throws {
        self.binary = binary
        self.config = config
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: logPath) else { throw SoakError("cannot write \(logPath)") }
        log = handle
        self.report = report
    }

    var starts: Int { state.withLock { $0.starts } }
    var unexpectedExits: [String] { state.withLock { $0.unexpectedExits } }
    var pid: Int32? { state.withLock { $0.process.map(\.processIdentifier) } }

    /// Starts `walbridge run --wait-for-slot` (a `walbridge snapshot` may hold the slot for a while).
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config, "--wait-for-slot"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        state.withLock { $0.process = process; $0.held = false; $0.starts += 1 }
    }

    /// Restarts the bridge whenever it exits by itself, until ``finish()``.
    func watch() {
        Thread { [self] in
            while !finished.load(ordering: .acquiring) {
                usleep(100_000)
                let exited: Int32? = state.withLock { state in
                    guard !state.held, let process = state.process, !process.isRunning else { return nil }
                    state.process = nil
                    return process.terminationStatus
                }
                guard let status = exited else { continue }
                state.withLock { $0.unexpectedExits.append("exit \(status)") }
                report("walbridge run exited by itself with status \(status); restarting it")
                if status == 2 { report("VIOLATION-CANDIDATE: exit 2 (configuration or lost slot)") }
                usleep(500_000)
                try? start()
            }
        }.start()
    }

    /// kill -9; returns when it is gone.
    func kill9() {
        let process = state.withLock { state -> Process? in state.held = true; return state.process }
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { usleep(10_000) }
    }

    /// SIGTERM; waits up to `timeout` for the exit and returns its status (nil: it had to be killed).
    func terminate(timeout: Double) -> Int32? {
        let process = state.withLock { state -> Process? in state.held = true; return state.process }
        guard let process else { return nil }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { usleep(10_000) }
            return nil
        }
        return process.terminationStatus
    }

    /// Stops watching (the caller then stops the bridge).
    func finish() { finished.store(true, ordering: .releasing) }
}

/// The `walbridge dev-broker` child: its bootstrap address, and its fault commands on stdin.
final class DevBroker: Sendable {
    let bootstrap: String
    private let process: Process
    private let input: FileHandle

    init(binary: String, topics: [String], logPath: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["dev-broker"] + topics.flatMap { ["--topic", $0] }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        let output = stdout.fileHandleForReading
        var line: [UInt8] = []
        while true {
            let byte = output.readData(ofLength: 1)
            guard let first = byte.first else { throw SoakError("dev-broker exited before printing its address; see \(logPath)") }
            if first == UInt8(ascii: "\n") { break }
            line.append(first)
        }
        bootstrap = String(decoding: line, as: UTF8.self)
        // Drain its replies ("ok" / "error: …"), so its stdout never fills.
        Thread {
            while true {
                let data = output.availableData
                if data.isEmpty { return }
                if let text = String(data: data, encoding: .utf8), text.contains("error") {
                    FileHandle.standardError.write(Data("dev-broker: \(text)".utf8))
                }
            }
        }.start()
        self.process = process
        input = stdin.fileHandleForWriting
    }

    func send(_ command: String) { input.write(Data((command + "\n").utf8)) }

    func stop() {
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
    }
}

/// Runs a shell command line and returns its exit status. posix_spawn and
/// waitpid, not Foundation's Process: its waitUntilExit did not return for a
/// `pg_ctl restart` (whose server outlives it) when called off the main thread.
@discardableResult
func shell(_ command: String) -> Int32 {
    var pid: pid_t = 0
    let words: [String] = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    return (status >> 8) & 0xFF
}

/// A harness failure (not a delivery violation): the soak could not run as planned.
struct SoakError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Seconds since the soak started, on the monotonic clock.
let soakStart = ContinuousClock.now
func elapsed() -> Double {
    let d = ContinuousClock.now - soakStart
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// The harness's own Kafka clients log errors only: their reconnect warnings
/// during broker faults are expected and would bury the report.
let quietLogger: Logger = {
    var logger = Logger(label: "walbridge-soak")
    logger.logLevel = .error
    return logger
}()
