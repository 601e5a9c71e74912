import Foundation
import HTTPTestClient
import PostgresReplication
import Testing
import WalBridge

/// `walbridge status --watch` against a running `walbridge run` (issue 16, item 4):
/// both as child processes, as users run them, on the real Postgres and the test broker.
@Suite("status --watch", .serialized)
struct StatusWatchTests {
    /// A loopback port nothing listens on now: bound to port 0, read, closed.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("cannot bind a loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The `walbridge run` child with `metrics.listen` on a free port, ready.
    static func startRun(_ setup: BridgeTestSetup) throws -> (run: WalBridgeProcess, path: String, port: Int) {
        let port = try freePort()
        let path = try setup.writeConfiguration(setup.operationsYAML(topLevel: "metrics: {listen: \"127.0.0.1:\(port)\"}"))
        let run = try WalBridgeProcess(["run", "--config", path])
        try run.waitForLog("serving metrics")
        #expect(run.stderr.contains("/status"), "the serving-metrics line names /status: \(run.stderr)")
        try setup.database.waitForActiveSlot()
        try waitUntil("/readyz 200", timeout: .seconds(30)) { (try? httpGet(port: port, path: "/readyz").status) == 200 }
        return (run, path, port)
    }

    /// The whole frames written so far (each is followed by a blank line).
    static func frames(_ output: String) -> [String] {
        Array(output.components(separatedBy: "\n\n").dropLast())
    }

    /// The checkpoint LSN of a frame's `position` line.
    static func checkpoint(in frame: String) -> LSN? {
        guard let line = frame.split(separator: "\n").first(where: { $0.hasPrefix("position ") }),
              let range = line.range(of: "checkpoint ") else { return nil }
        return LSN(line[range.upperBound...].prefix { $0 != "," && $0 != " " })
    }

    /// The per-second rate on a frame's line for `public.users EVENT`, or nil.
    static func rate(in frame: String, event: String) -> Double? {
        guard let line = frame.split(separator: "\n").first(where: { $0.contains("public.users \(event) ") }) else { return nil }
        let fields = line.split(separator: " ")
        guard let index = fields.firstIndex(of: Substring(event)), index + 1 < fields.count, fields[index + 1].hasSuffix("/s") else { return nil }
        return Double(fields[index + 1].dropLast(2))
    }

    @Test("frames show the checkpoint position, an event rate, in-flight events, no dead letters, ready; no escape sequences; SIGINT exits 0")
    func framesFollowTheStream() throws {
        let setup = try BridgeTestSetup()
        let (run, path, port) = try Self.startRun(setup)
        // What the watch refuses before any frame: --json with it, a configuration the database refuses.
        let refused = try WalBridgeProcess.run(["status", "--config", path, "--watch", "--json"])
        #expect(refused.status == 2 && refused.stdout.isEmpty, "\(refused)")
        #expect(refused.stderr.contains("--watch and --json do not go together"), "\(refused.stderr)")
        let wrongPassword = setup.database.bridgeURL.replacingOccurrences(of: ":\(TestDatabase.password)@", with: ":wrong-password@")
        let badPath = try setup.writeConfiguration(setup.operationsYAML(url: wrongPassword, topLevel: "metrics: {listen: \"127.0.0.1:\(port)\"}"), name: "bad.yaml")
        let bad = try WalBridgeProcess.run(["status", "--config", badPath, "--watch"], timeout: .seconds(30))
        #expect(bad.status == 2 && bad.stdout.isEmpty, "a wrong password exits 2 before the first frame: \(bad)")
        #expect(!bad.stderr.contains("wrong-password"), "\(bad.stderr)")

        let watch = try WalBridgeProcess(["status", "--config", path, "--watch"])
        try waitUntil("a first frame", timeout: .seconds(15)) { !Self.frames(watch.stdout).isEmpty }
        try setup.insertUsers(prefix: "watch", count: 300)
        let committed = try setup.database.currentInsertLSN()
        try setup.database.waitForConfirmedFlush(atLeast: committed)

        try waitUntil("a frame with a UserRegistered rate above 0", timeout: .seconds(20)) {
            Self.frames(watch.stdout).contains { (Self.rate(in: $0, event: "UserRegistered") ?? 0) > 0 }
        }
        var last = ""
        try waitUntil("a frame whose checkpoint is at or past the inserts' commit", timeout: .seconds(20)) {
            last = Self.frames(watch.stdout).last ?? ""
            return Self.checkpoint(in: last).map { $0 >= committed } ?? false
        }
        #expect(last.contains("slot \(setup.database.slot) (database \(setup.database.name)), active (PID "), "\(last)")
        #expect(last.contains("\nin flight        0 events, 0 bytes"), "\(last)")
        #expect(last.contains("\ndead letters     0"), "\(last)")
        #expect(last.contains("\nready            yes"), "\(last)")
        #expect(last.contains("                 public.users UserRegistered  "), "\(last)")
        #expect(last.contains("(300 in all)"), "\(last)")
        #expect(!last.contains("postgres  ") && !last.contains("not reachable"), "\(last)")

        watch.signal(SIGINT)
        #expect(try watch.waitForExit(timeout: .seconds(10)) == 0, "\(watch.stderr)")
        let output = watch.stdout
        #expect(!output.contains("\u{1B}"), "no escape sequences when not a terminal")
        #expect(output.hasSuffix("\n\n"), "every frame is followed by a blank line")
        #expect(!output.contains(TestDatabase.password))
        #expect(watch.stderr.isEmpty, "\(watch.stderr)")

        run.signal(SIGTERM)
        #expect(try run.waitForExit() == 0, "\(run.stderr.suffix(2000))")
    }

    @Test("with the brokers down /status shows the warning as lastProblem and the watch shows it; a stopped process is said, and the watch goes on")
    func lastProblemAndRestart() throws {
        let setup = try BridgeTestSetup()
        // The watch first: a child started later inherits the test broker's sockets
        // (ChildProcess closes no descriptors), and a copy of the broker's end of
        // the producer's connection would keep it open after the broker goes down.
        let port = try Self.freePort()
        let path = try setup.writeConfiguration(setup.operationsYAML(topLevel: "metrics: {listen: \"127.0.0.1:\(port)\"}"))
        let watch = try WalBridgeProcess(["status", "--config", path, "--watch"])
        try waitUntil("a frame before walbridge run starts", timeout: .seconds(15)) { !Self.frames(watch.stdout).isEmpty }
        let early = try #require(Self.frames(watch.stdout).first)
        #expect(early.contains("walbridge run    not reachable at 127.0.0.1:\(port)"), "\(early)")
        #expect(early.contains("postgres         cannot read the slot: replication slot '\(setup.database.slot)' does not exist"), "\(early)")

        let run = try WalBridgeProcess(["run", "--config", path])
        try setup.database.waitForActiveSlot()
        try waitUntil("/readyz 200", timeout: .seconds(30)) { (try? httpGet(port: port, path: "/readyz").status) == 200 }
        let before = try ProcessStatus(json: try httpGet(port: port, path: "/status").body)
        #expect(before.ready, "\(before)")
        #expect(watch.isRunning, "the watch went on while nothing answered")
        // Warm up: one event delivered, so the producer's connection is up before the brokers go.
        try setup.insertUser("warm-up")
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())

        try setup.cluster.setAllBrokersDown()
        try setup.insertUser("while-down")
        var status = before
        do {
            try waitUntil("/status to show a broker warning as lastProblem", timeout: .seconds(30)) {
                status = try ProcessStatus(json: try httpGet(port: port, path: "/status").body)
                guard let problem = status.lastProblem, problem != before.lastProblem else { return false }
                return problem.level == .warning
            }
        } catch {
            throw TestFailure("\(error); last /status: \(status); walbridge run's log: \(run.stderr.suffix(3000))")
        }
        let problem = try #require(status.lastProblem)
        // librdkafka's own line ("Connect to ipv4#127.0.0.1:PORT failed: Connection refused") or ours ("all brokers are down").
        let brokerPort = setup.cluster.bootstrapServers.split(separator: ":").last.map(String.init) ?? "?"
        #expect(problem.message.contains(brokerPort) || problem.message.lowercased().contains("broker"), "\(problem)")
        #expect(run.stderr.contains(problem.message), "the last problem is a line the process logged: \(problem.message)")
        #expect(!problem.message.contains(TestDatabase.password))
        // New warnings follow each other while the brokers stay down: a frame shows this one or a later one.
        var shown: (at: Date, line: String)?
        try waitUntil("the watch to show the last problem", timeout: .seconds(15)) {
            guard let frame = Self.frames(watch.stdout).last,
                  let line = frame.split(separator: "\n").first(where: { $0.hasPrefix("last problem     ") }),
                  let at = LoggedProblem.date(rfc3339: String(line.dropFirst(17).prefix { $0 != " " })) else { return false }
            shown = (at, String(line))
            return at >= problem.at
        }
        let line = try #require(shown?.line)
        #expect(line.contains(" s ago) warning: "), "\(line)")
        #expect(line.contains(brokerPort) || line.lowercased().contains("broker"), "\(line)")
        try setup.cluster.setAllBrokersUp()

        // The process stops: the frames say so and the watch goes on.
        run.signal(SIGTERM)
        #expect(try run.waitForExit() == 0, "\(run.stderr.suffix(2000))")
        try waitUntil("a frame saying walbridge run is not reachable", timeout: .seconds(15)) {
            Self.frames(watch.stdout).last?.contains("walbridge run    not reachable at 127.0.0.1:\(port)") == true
        }
        #expect(watch.isRunning)
        let gone = try #require(Self.frames(watch.stdout).last)
        #expect(gone.contains("position         checkpoint "), "the slot lines stay: \(gone)")
        #expect(gone.contains("not streamed"), "\(gone)")

        // It comes back: the frames follow it again.
        let again = try WalBridgeProcess(["run", "--config", path])
        try setup.database.waitForActiveSlot()
        try waitUntil("frames from the restarted process", timeout: .seconds(30)) {
            Self.frames(watch.stdout).last?.contains("\nready            yes") == true
        }
        watch.signal(SIGINT)
        #expect(try watch.waitForExit(timeout: .seconds(10)) == 0)
        again.signal(SIGTERM)
        #expect(try again.waitForExit() == 0, "\(again.stderr.suffix(2000))")
    }

    @Test("on a terminal (script's pty) each frame clears the screen, and the screen is restored on exit")
    func terminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            Issue.record("util-linux `script` is not installed; the pty test needs it (apt-get install bsdutils)")
            return
        }
        let setup = try BridgeTestSetup()
        let (run, path, _) = try Self.startRun(setup)
        let directory = NSTemporaryDirectory() + "walbridge-pty-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // script runs the command with $SHELL -c. dash (Debian's /bin/sh) forks for it instead of replacing
        // itself, and then a SIGINT meant for the watch reaches the shell, which waits on: `exec` makes every
        // shell replace itself, and SHELL is pinned so the test does not depend on the caller's login shell.
        let command = "exec \(WalBridgeProcess.executable.path) status --config \(path) --watch"
        var environment = ProcessInfo.processInfo.environment
        environment["SHELL"] = "/bin/sh"
        let script = try ChildProcess(
            executable: "/usr/bin/script", arguments: ["-qefc", command, "/dev/null"], environment: environment,
            stdout: directory + "/out", stderr: directory + "/err")
        func output() -> String { (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "" }
        try waitUntil("two frames on the pty", timeout: .seconds(20)) {
            output().components(separatedBy: "\u{1B}[H\u{1B}[2J").count >= 3
        }
        #expect(output().hasPrefix("\u{1B}[?1049h\u{1B}[?25l"), "the alternate screen, cursor hidden: \(output().prefix(40).debugDescription)")
        #expect(output().contains("\nposition         "), "\(output().prefix(400).debugDescription)")
        // The watch is script's child: stop it (not script) with SIGINT.
        let children = try String(contentsOfFile: "/proc/\(script.pid)/task/\(script.pid)/children", encoding: .utf8)
        let watchPID = try #require(children.split(separator: " ").first.flatMap { pid_t($0) })
        let watchExecutable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(watchPID)/exe")
        try #require(
            URL(fileURLWithPath: watchExecutable).resolvingSymlinksInPath().path
                == WalBridgeProcess.executable.resolvingSymlinksInPath().path,
            "script's child is the watch itself, not a shell around it: \(watchExecutable)")
        kill(watchPID, SIGINT)
        #expect(try script.wait(timeout: .seconds(10)) == 0, "script -e exits with the watch's status")
        let text = output()
        let restored = try #require(text.range(of: "\u{1B}[?25h\u{1B}[?1049l"), "the screen is restored on exit: \(text.suffix(200).debugDescription)")
        #expect(text[restored.upperBound...].contains("\nposition         "), "the last frame is printed again on the normal screen")
        run.signal(SIGTERM)
        #expect(try run.waitForExit() == 0)
    }
}
