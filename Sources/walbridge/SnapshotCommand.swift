import ArgumentParser
import Configuration
import EventMapping
import Foundation
import PostgresReplication
import WalBridge

/// `walbridge snapshot`: publish the existing rows of mapped tables (backfill)
/// while streaming goes on, then stop.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Publish every existing row of mapped tables as snapshot events, while streaming goes on.",
        discussion: """
            Reads each table in primary-key chunks (snapshot.chunk_size, default 10000) and
            publishes each row as the mapping's snapshot event (snapshot.event, default the
            insert event) with "snapshot": true in source. Changes committed meanwhile stream
            as usual, and a row is never published with an older state after a newer one.
            Progress is in the checkpoint: after a crash or SIGTERM, run the same command
            again (or `walbridge run`) and it resumes at the first unfinished chunk.
            Exits 0 when every row is acknowledged by Kafka.

            When a WalBridge already streams from the slot, this command hands the request to
            it (a file next to its checkpoint) and follows the progress; otherwise it streams
            itself while it backfills, and stops when done.

            Examples:
              walbridge snapshot --config walbridge.yaml
              walbridge snapshot --config walbridge.yaml --table public.users
              walbridge snapshot --config walbridge.yaml --table public.users --where "created_at > now() - interval '30 days'"
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    @Option(name: .customLong("table"), help: "A mapped table to backfill (schema.table); repeat for several. Default: every table mapping.")
    var tables: [String] = []

    @Option(name: .customLong("where"), help: "An SQL condition the rows must meet, for every table.")
    var filter: String?

    func run() throws {
        let configuration = try CommandSupport.loadConfiguration(config)
        var requested: [QualifiedName] = []
        for text in tables {
            do {
                requested.append(try QualifiedName.parse(text))
            } catch {
                CommandSupport.fail("--table '\(text)': \(error); write it as schema.table (for example public.users)", status: 2)
            }
        }
        let resolved: [QualifiedName]
        do {
            resolved = try Bridge.snapshotTables(requested, configuration: configuration)
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
        if let filter, filter.trimmingCharacters(in: .whitespaces).isEmpty {
            CommandSupport.fail("--where is empty; give an SQL condition (for example \"id > 1000\") or leave the option out", status: 2)
        }
        if let status = try? SourceStatus.read(configuration), status.active {
            handOff(SnapshotRequestFile.Request(tables: resolved, filter: filter), configuration: configuration, holder: status.activePID)
        }
        let logger = CommandSupport.bootstrapLogging(level: configuration.logging.level, format: configuration.logging.format)
        let stop = StopSignal()
        CommandSupport.handleTerminationSignals { stop.request() }
        var options = BridgeOptions()
        options.snapshot = SnapshotRequest(tables: requested, filter: filter)
        let display = ProgressDisplay()
        options.onSnapshotProgress = { progress, final in
            if final {
                display.finish(progress.line)
            } else if display.isTerminal {
                display.show(progress.line)
            }
        }
        let bridge = Bridge(configuration: configuration, options: options, stop: stop, logger: logger)
        // (Exits 1 with the slot's holder named if a WalBridge took the slot since the check above.)
        do {
            try bridge.run()
            if bridge.snapshotInProgress {
                CommandSupport.fail("snapshot stopped before it finished; its progress is in the checkpoint: run the same command again (or `walbridge run`) to resume", status: 1)
            }
        } catch {
            display.endLine()
            logger.critical("\(error.message)")
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }

    /// Another process streams from the slot: ask it (through the request file
    /// next to the checkpoint) and follow the job's progress in the checkpoint until it is done.
    private func handOff(_ request: SnapshotRequestFile.Request, configuration: BridgeConfiguration, holder: Int32?) -> Never {
        let requests = SnapshotRequestFile(checkpointPath: configuration.checkpoint.path)
        let holderText = holder.map { "PID \($0)" } ?? "another connection"
        do {
            try requests.write(request)
        } catch {
            CommandSupport.fail("cannot write the snapshot request \(requests.path): \(error.localizedDescription); run this command where the running WalBridge's checkpoint directory is writable", status: 1)
        }
        let display = ProgressDisplay()
        display.say("slot '\(configuration.postgres.slot)' is streamed by \(holderText); asked it to backfill \(request.tables.map(\.description).joined(separator: ", ")) (job \(request.id))")
        let clock = ContinuousClock()
        let store = CheckpointStore(path: configuration.checkpoint.path)
        var deadline = clock.now + .seconds(30)
        var toldBusy = false
        while requests.isPending && clock.now < deadline {
            // A job already running there is finished first; the request waits for it.
            if let running = (try? store.load())??.snapshot.job, running.id != request.id {
                if !toldBusy {
                    display.say("the running WalBridge is finishing snapshot \(running.id) first (\(running.rowsDone) rows done); this request waits for it")
                    toldBusy = true
                }
                deadline = clock.now + .seconds(30)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        if requests.isPending {
            try? FileManager.default.removeItem(atPath: requests.path)
            CommandSupport.fail("\(holderText) holds slot '\(configuration.postgres.slot)' but did not take the request within 30 s: it is not a `walbridge run` using checkpoint.path \(configuration.checkpoint.path) (a `walbridge snapshot` that streams by itself takes no requests). Wait for it, or run this command with the running WalBridge's configuration", status: 1)
        }
        if let reason = requests.rejection {
            CommandSupport.fail("the running WalBridge refused the snapshot: \(reason)", status: 2)
        }
        var lastLine = ContinuousClock().now - .seconds(10)
        var lastSlotCheck = ContinuousClock().now
        while true {
            let state = (try? store.load())??.snapshot
            if state?.lastFinishedJobID == request.id {
                display.say("snapshot \(request.id) finished: every row is acknowledged by Kafka")
                Foundation.exit(0)
            }
            if let job = state?.job, job.id == request.id, clock.now - lastLine >= (display.isTerminal ? .milliseconds(500) : .seconds(10)) {
                lastLine = clock.now
                display.show(SnapshotProgress(averageOf: job, now: Date()).line)
            }
            if clock.now - lastSlotCheck >= .seconds(5) {
                lastSlotCheck = clock.now
                if let status = try? SourceStatus.read(configuration), !status.active {
                    CommandSupport.fail("the WalBridge streaming from slot '\(configuration.postgres.slot)' stopped before the snapshot finished; its progress is in the checkpoint, and it resumes when `walbridge run` starts again", status: 1)
                }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

}

/// The progress line on standard error: redrawn in place on a terminal, one
/// line per report elsewhere; messages go on lines of their own.
struct ProgressDisplay: Sendable {
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var clear: String { isTerminal ? "\r\u{1B}[K" : "" }

    /// The current progress (a terminal keeps it on one line).
    func show(_ line: String) {
        write(clear + line + (isTerminal ? "" : "\n"))
    }

    /// The last progress, ending its line.
    func finish(_ line: String) {
        write(clear + line + "\n")
    }

    /// A message (`walbridge: …`) on a line of its own.
    func say(_ line: String) {
        write(clear + "walbridge: " + line + "\n")
    }

    /// Ends a progress line left open on a terminal.
    func endLine() {
        if isTerminal { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
