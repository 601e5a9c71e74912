import ArgumentParser
import EventMapping
import Foundation
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
            Exits 0 when every row is acknowledged by Kafka. Needs the slot: stop
            `walbridge run` first (this command streams in its place), and start it again after.

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
        do {
            _ = try Bridge.snapshotTables(requested, configuration: configuration)
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
        if let filter, filter.trimmingCharacters(in: .whitespaces).isEmpty {
            CommandSupport.fail("--where is empty; give an SQL condition (for example \"id > 1000\") or leave the option out", status: 2)
        }
        let logger = CommandSupport.bootstrapLogging(level: configuration.logging.level, format: configuration.logging.format)
        let stop = StopSignal()
        CommandSupport.handleTerminationSignals { stop.request() }
        var options = BridgeOptions()
        options.snapshot = SnapshotRequest(tables: requested, filter: filter)
        let terminal = isatty(STDERR_FILENO) == 1
        options.onSnapshotProgress = { progress, final in
            if terminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + progress.line + (final ? "\n" : "")).utf8))
            } else if final {
                FileHandle.standardError.write(Data((progress.line + "\n").utf8))
            }
        }
        let bridge = Bridge(configuration: configuration, options: options, stop: stop, logger: logger)
        do {
            try bridge.run()
            if bridge.snapshotInProgress {
                CommandSupport.fail("snapshot stopped before it finished; its progress is in the checkpoint: run the same command again (or `walbridge run`) to resume", status: 1)
            }
        } catch {
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            logger.critical("\(error.message)")
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }
}
