import FaultProxy
import Foundation
import KafkaPublisher
import PostgresReplication
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `walbridge-soak`: the randomised soak (docs/delivery.md, "The randomised
/// soak"). Runs a release `walbridge run` through a FaultProxy to Postgres and
/// a `walbridge dev-broker`, drives a mixed workload, fires the seed's fault
/// schedule, reads every record back and checks the delivery invariants.
/// scripts/soak.sh builds it, prepares the cluster and the database, and runs it:
///
///   walbridge-soak --minutes N --seed S --walbridge BIN --work DIR
///                  --pg-port P --pg-socket DIR --database DB --pg-ctl "COMMAND PREFIX"

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
func required(_ name: String) -> String {
    guard let value = option(name) else {
        FileHandle.standardError.write(Data("walbridge-soak: \(name) is required (see scripts/soak.sh)\n".utf8))
        exit(2)
    }
    return value
}
guard let minutes = Double(option("--minutes") ?? "15"), minutes > 0, let seed = UInt64(option("--seed") ?? "1") else {
    FileHandle.standardError.write(Data("walbridge-soak: --minutes must be a positive number and --seed a non-negative integer\n".utf8))
    exit(2)
}
let binary = required("--walbridge")
let work = required("--work")
let pgPort = UInt16(required("--pg-port")) ?? 0
let pgSocket = required("--pg-socket")
let database = required("--database")
let pgCtl = required("--pg-ctl")
let adminURL = "host=\(pgSocket) port=\(pgPort) user=postgres dbname=\(database)"
let slot = "soak"
let partitions: Int32 = 48
let topics = [("soak.users", partitions), ("soak.orders", partitions)]

@Sendable func say(_ text: String) { print("[soak \(format(elapsed()))s] \(text)"); fflush(nil) }

func fail(_ text: String) -> Never {
    print("walbridge-soak: \(text)")
    exit(1)
}

// --- The schedule ---------------------------------------------------------------
let schedule = drawSchedule(seed: seed, minutes: minutes)
print("soak: seed \(seed), \(format(minutes * 60)) s, \(schedule.count) steps (the same seed draws the same schedule):")
for step in schedule { print("  \(step)") }

// --- Database objects -----------------------------------------------------------
do {
    let admin = try PostgresConnection(url: adminURL, replication: false, applicationName: "walbridge-soak-setup")
    for sql in [
        "ALTER TABLE users ADD COLUMN version int NOT NULL DEFAULT 1",
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, amount int NOT NULL, version int NOT NULL, note text)",
        "CREATE TABLE soak_commits (tx bigint PRIMARY KEY)",
        "GRANT SELECT ON orders TO walbridge",
        "DROP PUBLICATION IF EXISTS walbridge",
        "CREATE PUBLICATION walbridge FOR TABLE users (id, username, first_name, last_name, email, version), orders",
        "SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')",
    ] { _ = try admin.query(sql) }
} catch {
    fail("cannot prepare the database \(database): \(error)")
}

// --- Broker, proxy, configuration ---------------------------------------------
let broker: DevBroker
let proxy: FaultProxy
do {
    broker = try DevBroker(binary: binary, topics: topics.map { "\($0.0):\($0.1)" }, logPath: "\(work)/broker.log")
    proxy = try FaultProxy(upstreamPort: pgPort)
} catch {
    fail("\(error)")
}
let checkpointPath = "\(work)/checkpoint.json"
let configPath = "\(work)/walbridge.yaml"
let config = """
    postgres: {url: "postgres://walbridge:${WALBRIDGE_PASSWORD}@127.0.0.1:\(proxy.port)/\(database)?sslmode=disable", slot: \(slot)}
    kafka: {bootstrap_servers: "\(broker.bootstrap)"}
    checkpoint: {path: "\(checkpointPath)"}
    logging: {level: info, format: json}
    mappings:
      - table: public.users
        topic: soak.users
        key: [id]
        events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
        fields: {id: userId, username: username, last_name: lastName, version: version}
      - table: public.orders
        topic: soak.orders
        key: [id]
        events: {insert: OrderPlaced, update: OrderChanged, delete: OrderCancelled}
        fields: {id: orderId, user_id: userId, amount: amount, version: version, note: note}

    """
FileManager.default.createFile(atPath: configPath, contents: Data(config.utf8))
say("broker \(broker.bootstrap), proxy 127.0.0.1:\(proxy.port) → Postgres 127.0.0.1:\(pgPort), work \(work)")

// --- Readers, bridge, workload, monitor -------------------------------------------
let recoveries = Recoveries()
let readers = topics.enumerated().map { index, topic in
    TableReader(table: index, topic: topic.0, partitions: topic.1, bootstrap: broker.bootstrap, recoveries: recoveries)
}
for reader in readers { reader.start() }
let bridge: BridgeSupervisor
do {
    bridge = try BridgeSupervisor(binary: binary, config: configPath, logPath: "\(work)/walbridge.log") { say($0) }
    try bridge.start()
} catch {
    fail("cannot start walbridge run: \(error)")
}
bridge.watch()
let workload = Workload(url: adminURL, seed: seed) { say($0) }
workload.start()
let monitor = Monitor(checkpointPath: checkpointPath, bootstrap: broker.bootstrap, topics: topics, adminURL: adminURL, slot: slot, recoveries: recoveries)
monitor.start()

// --- Faults and backfills ---------------------------------------------------------
/// What happened, for the report.
struct Happenings: Sendable {
    var faults: [FaultKind: Int] = [:]
    var twoAtOnce = 0
    /// (start, label) of every step, to name the fault before a violation.
    var started: [(Double, String)] = []
    var sigtermStatuses: [String] = []
    var restartFailures: [String] = []
    var backfills: [String] = []
    var backfillsSkipped = 0
}
let happenings = Mutex(Happenings())

@Sendable func currentWAL() -> UInt64? {
    guard let c = try? PostgresConnection(url: adminURL, replication: false, applicationName: "walbridge-soak-faults", connectTimeoutSeconds: 5),
          let text = try? c.query("SELECT pg_current_wal_lsn()").rows.first?[0], let lsn = LSN(text) else { return nil }
    return lsn.value
}

@Sendable func pause(_ seconds: Double) { if seconds > 0 { usleep(UInt32(seconds * 1_000_000)) } }

@Sendable func restartBridge() {
    do { try bridge.start() } catch { happenings.withLock { $0.restartFailures.append("\(error)") } }
}

@Sendable func perform(_ fault: Fault) {
    switch fault.kind {
    case .kill9:
        bridge.kill9()
        pause(fault.seconds)
        restartBridge()
    case .sigterm:
        let status = bridge.terminate(timeout: 60)
        happenings.withLock { $0.sigtermStatuses.append(status.map { "exit \($0)" } ?? "no exit within 60 s (killed)") }
        pause(fault.seconds)
        restartBridge()
    case .postgresRestartFast:
        let status = shell("\(pgCtl) restart -m fast >/dev/null")
        if status != 0 { say("pg_ctl restart -m fast exited \(status)") }
    case .postgresRestartImmediate:
        let status = shell("\(pgCtl) restart -m immediate >/dev/null")
        if status != 0 { say("pg_ctl restart -m immediate exited \(status)") }
    case .brokerDown:
        broker.send("down all")
        pause(fault.seconds)
        broker.send("up all")
    case .brokerLatency:
        broker.send("rtt 1 \(fault.milliseconds)")
        pause(fault.seconds)
        broker.send("rtt 1 0")
    case .pathStall:
        proxy.setMode(.stall)
        pause(fault.seconds)
        proxy.setMode(.pass)
    case .pathReset:
        proxy.resetConnections()
    case .pathCut:
        proxy.setMode(.cut)
        proxy.resetConnections()
        pause(fault.seconds)
        proxy.setMode(.pass)
    }
}

let faultSteps = schedule.filter { if case .faults = $0.action { true } else { false } }
let backfillSteps = schedule.filter { if case .backfill = $0.action { true } else { false } }
let faultsDone = DispatchSemaphore(value: 0)
Thread {
    for step in faultSteps {
        guard case .faults(let faults) = step.action else { continue }
        pause(step.at - elapsed())
        say("fault: \(step)")
        happenings.withLock { h in
            h.started.append((elapsed(), step.faultLabel))
            for f in faults { h.faults[f.kind, default: 0] += 1 }
            if faults.count > 1 { h.twoAtOnce += 1 }
        }
        let group = DispatchGroup()
        for f in faults {
            group.enter()
            Thread { perform(f); group.leave() }.start()
        }
        group.wait()
        recoveries.faultEnded(step.faultLabel, at: elapsed(), wal: currentWAL())
    }
    faultsDone.signal()
}.start()

let snapshotProcess = Mutex<Process?>(nil)
let backfillsDone = DispatchSemaphore(value: 0)
Thread {
    for step in backfillSteps {
        guard case .backfill(let table) = step.action else { continue }
        pause(step.at - elapsed())
        if let running = snapshotProcess.withLock({ $0 }), running.isRunning {
            happenings.withLock { $0.backfillsSkipped += 1 }
            continue
        }
        say("backfill: walbridge snapshot --table \(table)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["snapshot", "--config", configPath, "--table", table]
        let log = "\(work)/snapshot-\(Int(step.at)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        do { try process.run() } catch { happenings.withLock { $0.backfills.append("\(table): could not start: \(error)") }; continue }
        snapshotProcess.withLock { $0 = process }
        happenings.withLock { $0.started.append((elapsed(), step.faultLabel)) }
        Thread {
            let deadline = Date().addingTimeInterval(300)
            while process.isRunning && Date() < deadline { usleep(100_000) }
            if process.isRunning { process.terminate(); while process.isRunning { usleep(10_000) } }
            happenings.withLock { $0.backfills.append("\(table): exit \(process.terminationStatus)") }
        }.start()
    }
    backfillsDone.signal()
}.start()

// --- Run, then quiet ----------------------------------------------------------
while elapsed() < minutes * 60 {
    pause(min(30, minutes * 60 - elapsed()))
    let r = readers.map(\.records).reduce(0, +)
    say("progress: \(workload.committedTransactions) transactions committed, ~\(r) records read, bridge started \(bridge.starts) times")
}
faultsDone.wait()
backfillsDone.wait()
let model = workload.stop()
say("quiet: workload stopped after \(model.transactions) transactions (\(model.changes) row changes); waiting for the bridge to catch up")
if bridge.pid == nil { restartBridge() }
let quietAt = elapsed()
var harnessErrors: [String] = []
do {
    let deadline = Date().addingTimeInterval(600)
    while let p = snapshotProcess.withLock({ $0 }), p.isRunning, Date() < deadline { pause(0.2) }
    guard let target = currentWAL() else { fail("cannot read pg_current_wal_lsn() at the end") }
    while Date() < deadline {
        let checkpoint = Monitor.readCheckpoint(checkpointPath)
        if monitor.slotConfirmed >= target, let checkpoint, checkpoint.lsn >= target || checkpoint.job == false, checkpoint.job == false { break }
        pause(0.2)
    }
    if monitor.slotConfirmed < target { harnessErrors.append("the slot did not confirm \(LSN(target)) within 600 s of the end (at \(LSN(monitor.slotConfirmed)))") }
    if Monitor.readCheckpoint(checkpointPath)?.job == true { harnessErrors.append("a backfill job was still unfinished 600 s after the end") }
}
let caughtUpSeconds = elapsed() - quietAt
// Read up to the end offsets of every partition.
do {
    let probe = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: broker.bootstrap, clientID: "walbridge-soak-end"), logger: quietLogger)
    let ends = try topics.map { try probe.endOffsets(topic: $0.0, partitions: Array(0..<$0.1), timeoutMilliseconds: 5_000) }
    probe.close()
    let deadline = Date().addingTimeInterval(180)
    for (reader, end) in zip(readers, ends) {
        while Date() < deadline, zip(reader.positions, end).contains(where: { $0 < $1 }) { pause(0.1) }
        if zip(reader.positions, end).contains(where: { $0 < $1 }) { harnessErrors.append("\(reader.topic): not read to its end offsets within 180 s") }
    }
} catch {
    harnessErrors.append("cannot read the end offsets at the end: \(error)")
}
monitor.stop()
for reader in readers { reader.stop() }
bridge.finish()
let finalStop = bridge.terminate(timeout: 60)
broker.stop()
proxy.stop()

// --- Final checks ---------------------------------------------------------------
var violations: [Violation] = readers.flatMap(\.violations)
let endAt = elapsed()
for reader in readers { harnessErrors += reader.harnessErrors.prefix(20) }
harnessErrors += model.failedQueries.prefix(10).map { "workload query failed: \($0)" }
do {
    let admin = try PostgresConnection(url: adminURL, replication: false, applicationName: "walbridge-soak-check")
    for reader in readers {
        let t = reader.table
        var table: [Int64: Int32] = [:]
        for row in try admin.query("SELECT id, version FROM \(tableNames[t])").rows {
            if let id = row[0].flatMap({ Int64($0) }), let v = row[1].flatMap({ Int32($0) }) { table[id] = v }
        }
        if table != model.live[t] {
            harnessErrors.append("\(tableNames[t]): the workload's model (\(model.live[t].count) rows) differs from the table (\(table.count) rows)")
        }
        func lost(_ key: Int64, _ detail: String) { violations.append(Violation(kind: "lost", table: tableNames[t], key: key, detail: detail, seenAt: endAt)) }
        for (id, version) in table {
            guard let state = reader.keys[id] else { lost(id, "row (version \(version)) never published"); continue }
            if state.lastStreamed < version { lost(id, "streamed up to version \(state.lastStreamed), the table has \(version)") }
            if let missing = reader.gaps[id], !missing.isEmpty { lost(id, "versions \(missing.sorted()) never streamed") }
            if state.deleted { violations.append(Violation(kind: "phantom delete", table: tableNames[t], key: id, detail: "a delete was published for a row that exists", seenAt: endAt)) }
            if state.lastIsDelete || state.lastVersion != version {
                violations.append(Violation(kind: "last record", table: tableNames[t], key: id,
                    detail: "last record \(state.lastIsDelete ? "a delete" : "version \(state.lastVersion)"), the table has version \(version)", seenAt: endAt))
            }
        }
        for (id, version) in model.deleted[t] {
            guard let state = reader.keys[id] else { lost(id, "deleted at version \(version), nothing published"); continue }
            if !state.deleted { lost(id, "the delete (at version \(version)) never published") }
            if state.lastStreamed < version { lost(id, "streamed up to version \(state.lastStreamed), deleted at \(version)") }
            if let missing = reader.gaps[id], !missing.isEmpty { lost(id, "versions \(missing.sorted()) never streamed") }
            if !state.lastIsDelete {
                violations.append(Violation(kind: "last record", table: tableNames[t], key: id, detail: "the key was deleted, its last record is version \(state.lastVersion)", seenAt: endAt))
            }
        }
        for id in reader.keys.keys where table[id] == nil && model.deleted[t][id] == nil {
            violations.append(Violation(kind: "phantom", table: tableNames[t], key: id, detail: "published, but never committed", seenAt: endAt))
        }
    }
} catch {
    harnessErrors.append("final read of the tables failed: \(error)")
}

// The slot never confirmed past an unacknowledged event.
let samples = monitor.samples
var checkpointViolations = 0
for reader in readers {
    for p in 0..<Int(reader.partitions) {
        let offsets = reader.firstOffsets[p]
        let lsns = reader.firstLSNs[p]
        var suffixMin = [UInt64](repeating: UInt64.max, count: lsns.count + 1)
        for i in stride(from: lsns.count - 1, through: 0, by: -1) { suffixMin[i] = min(lsns[i], suffixMin[i + 1]) }
        for sample in samples {
            let end = sample.ends[reader.table][p]
            var lo = 0, hi = offsets.count
            while lo < hi { let mid = (lo + hi) / 2; if offsets[mid] < end { lo = mid + 1 } else { hi = mid } }
            if suffixMin[lo] < sample.checkpoint {
                checkpointViolations += 1
                if checkpointViolations <= 20 {
                    let index = (lo..<lsns.count).first { lsns[$0] < sample.checkpoint }!
                    violations.append(Violation(kind: "checkpoint ahead", table: reader.topic, key: Int64(p),
                        detail: "at t=\(format(sample.at))s the checkpoint was \(LSN(sample.checkpoint)) while the event at offset \(offsets[index]) of partition \(p) (commit \(LSN(lsns[index]))) was not yet in the log (end offset \(end))",
                        seenAt: sample.at))
                }
            }
        }
    }
}

// --- Report -----------------------------------------------------------------------
let h = happenings.withLock { $0 }
func preceding(_ time: Double) -> String {
    h.started.last(where: { $0.0 <= time }).map { "\($0.1) at t=\(format($0.0))s" } ?? "no fault yet"
}
let records = readers.map(\.records).reduce(0, +)
let duplicates = readers.map(\.duplicates).reduce(0, +)
let streamed = readers.map(\.streamedEvents).reduce(0, +)
let snapshotEvents = readers.map(\.snapshotEvents).reduce(0, +)
let lostCount = violations.filter { $0.kind == "lost" }.count
let orderCount = violations.filter { $0.kind == "order" || $0.kind == "event after delete" }.count
print("")
print("soak report: seed \(seed), \(format(minutes * 60)) s of faults, \(format(endAt)) s in all")
print("  workload: \(model.transactions) transactions committed (\(model.bulkTransactions) of ~50,000 rows), \(model.changes) row changes; \(model.uncertain) commits unsure after a lost connection (\(model.uncertainCommitted) had committed)")
print("  faults by kind:")
for kind in FaultKind.allCases { print("    \(kind.rawValue): \(h.faults[kind] ?? 0)") }
print("    two at once: \(h.twoAtOnce)")
print("  backfills: \(h.backfills.count) run (\(h.backfills.joined(separator: "; "))), \(h.backfillsSkipped) skipped (one still running)")
print("  walbridge run: started \(bridge.starts) times; exits by itself: \(bridge.unexpectedExits.isEmpty ? "none" : bridge.unexpectedExits.joined(separator: ", ")); after SIGTERM: \(Dictionary(grouping: h.sigtermStatuses, by: { $0 }).map { "\($0.key) ×\($0.value.count)" }.sorted().joined(separator: ", ")); final SIGTERM: \(finalStop.map { "exit \($0)" } ?? "killed")")
let snapshotRereads = readers.map(\.snapshotRereads).reduce(0, +)
print("  records read: \(records); events: \(streamed) streamed + \(snapshotEvents) snapshot; duplicates: \(duplicates) (streamed ones identical to their first copy unless listed below; \(snapshotRereads) snapshot rows read again after a restart, same id)")
print("  caught up \(format(caughtUpSeconds)) s after the workload stopped; checkpoint samples: \(samples.count) (\(monitor.skippedSamples) skipped while the broker did not answer)")
print("  recovery (fault end → first record read / slot confirmed past the WAL position at the end):")
let entries = recoveries.all
func stats(_ values: [Double]) -> String {
    guard !values.isEmpty else { return "—" }
    let sorted = values.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    return "median \(format(median)) s, max \(format(sorted.last!)) s"
}
var byKind: [String: [Recoveries.Entry]] = [:]
for entry in entries { byKind[entry.label.contains(" + ") ? "two at once" : entry.label, default: []].append(entry) }
for label in byKind.keys.sorted() {
    let list = byKind[label]!
    print("    \(label) (\(list.count)): first record \(stats(list.compactMap { e in e.firstEventAt.map { $0 - e.endedAt } })); caught up \(stats(list.compactMap { e in e.caughtUpAt.map { $0 - e.endedAt } }))")
}
print("  lost: \(lostCount); order violations: \(orderCount); other violations: \(violations.count - lostCount - orderCount); checkpoint-ahead samples: \(checkpointViolations)")
for v in violations.prefix(40) {
    print("  VIOLATION \(v.kind): \(v.table) key \(v.key): \(v.detail); seen at t=\(format(v.seenAt))s, after \(preceding(v.seenAt))")
}
for e in harnessErrors.prefix(40) { print("  HARNESS ERROR: \(e)") }
if !h.restartFailures.isEmpty { print("  HARNESS ERROR: restarting walbridge failed: \(h.restartFailures)") }
exit(violations.isEmpty && harnessErrors.isEmpty && h.restartFailures.isEmpty ? 0 : 1)
