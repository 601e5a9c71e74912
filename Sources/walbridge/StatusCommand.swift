import ArgumentParser
import EventMapping
import Foundation
import WalBridge

/// `walbridge status`: the slot, its lag and retained WAL, and the checkpoint;
/// with `--watch`, a live view of those and the running process's numbers.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the replication slot: active PID, confirmed flush LSN, checkpoint, lag and retained WAL.",
        discussion: """
            Reads pg_replication_slots over an ordinary connection (no replication
            session) and the checkpoint file. The earliest replayable LSN is the
            slot's confirmed flush position: `run --from-lsn` cannot go further back.
            Exit status 1 when the slot does not exist or Postgres cannot be reached,
            2 for a bad configuration (a wrong password, a missing database, Postgres
            older than 15).

            --json prints one object: slot, active, activePid, confirmedFlushLsn,
            checkpointLsn, earliestReplayableLsn, retainedWalBytes, lagBytes,
            serverVersion ("16.14"), serverVersionNum (160014), and while a
            backfill is unfinished, snapshot (job, tables, rowsDone, estimatedRows,
            rowsPerSecond, etaSeconds).

            --watch refreshes a live view every second until Ctrl-C (exit 0):
            position (checkpoint, confirmed flush, server WAL), lag in bytes and
            seconds, retained WAL, and from the running `walbridge run` at
            metrics.listen (0.0.0.0 and :: are reached on loopback) the events per
            second by table and event, transactions and bytes read per second,
            in-flight events, dead letters, reconnects, readiness with its reasons,
            backfill progress and the last warning or error it logged. Without
            metrics.listen it shows what Postgres and the checkpoint tell, and says
            so. When Postgres or the process cannot be reached the frame says so and
            the watch goes on. On a terminal each frame replaces the last; piped,
            plain frames follow each other, each after a blank line. --watch does
            not go with --json (exit 2).

            Examples:
              walbridge status --config walbridge.yaml
              walbridge status --config walbridge.yaml --json | jq .lagBytes
              walbridge status --config walbridge.yaml --watch
              walbridge status --config walbridge.yaml --watch | tee watch.log
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(name: .long, help: "Refresh a live view every second until Ctrl-C: position, lag, rates, in-flight events, dead letters, readiness, the last problem.")
    var watch = false

    func run() throws {
        if watch && json {
            CommandSupport.fail(
                "--watch and --json do not go together: --watch draws a live view for people; scripts can run `walbridge status --json` repeatedly or read /metrics and /status on metrics.listen",
                status: CommandSupport.usageStatus)
        }
        let configuration = try CommandSupport.loadConfiguration(config)
        if watch { StatusWatchLoop.run(configuration) }
        do {
            let status = try SourceStatus.read(configuration)
            if let problem = status.checkpointProblem {
                FileHandle.standardError.write(Data("walbridge: warning: \(problem)\n".utf8))
            }
            CommandSupport.emit(json ? status.json : status.table)
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }
}
