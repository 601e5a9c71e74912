import Foundation

/// A second, short-lived cluster of the test server's build (`TestServer.binaries`) with its own settings (for example
/// `wal_level = replica`), for tests the shared cluster cannot serve.
/// Runs as the `postgres` OS user when the tests run as root: Postgres refuses root.
final class TemporaryCluster {
    let directory: String
    let port: Int
    static var binaries: String { TestServer.binaries }

    init(settings: [String]) throws {
        directory = "/tmp/walbridge-pg-\(UInt32.random(in: 0..<UInt32.max))"
        // A port the kernel has just handed out, not a random one that a connection
        // (or another version's suite running beside this one) may hold.
        port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres:postgres", directory], asPostgres: false) }
        try Self.run(["\(Self.binaries)/initdb", "-D", "\(directory)/data", "-U", "postgres", "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"])
        let conf = (["listen_addresses = '127.0.0.1'", "port = \(port)", "unix_socket_directories = '\(directory)'", "fsync = off"] + settings)
            .joined(separator: "\n")
        try Self.run(["/bin/sh", "-c", "echo \"$0\" >> \(directory)/data/postgresql.conf", conf])
        try Self.start(data: "\(directory)/data", log: "\(directory)/log", timeoutSeconds: 30)
    }

    /// `pg_ctl start` on `data`, the server's log in `log`; a failure carries the log's end (why the server did not start).
    static func start(data: String, log: String, timeoutSeconds: Int) throws {
        do {
            try run(["\(binaries)/pg_ctl", "-D", data, "-l", log, "-w", "-t", "\(timeoutSeconds)", "start"])
        } catch {
            let serverLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)"
            throw TestFailure("\(error)\nthe server's log ends with:\n\(serverLog.suffix(2000))")
        }
    }

    /// Runs SQL as the superuser.
    func sql(_ text: String, database: String = "postgres") throws {
        try Self.run(["\(Self.binaries)/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)", "-U", "postgres",
                      "-d", database, "-c", text])
    }

    deinit {
        try? Self.run(["\(Self.binaries)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func run(_ arguments: [String], asPostgres: Bool = true) throws {
        let command = asPostgres && getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
        // Files, not pipes: the postmaster that pg_ctl starts inherits them and never closes them.
        let errorPath = NSTemporaryDirectory() + "walbridge-cluster-\(UUID().uuidString).err"
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let child = try ChildProcess(
            executable: command[0], arguments: Array(command.dropFirst()),
            environment: ProcessInfo.processInfo.environment, stdout: "/dev/null", stderr: errorPath)
        let status = try child.wait(timeout: .seconds(60))
        guard status == 0 else {
            let output = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw TestFailure("\(arguments.joined(separator: " ")) failed (status \(status)): \(output)")
        }
    }
}
