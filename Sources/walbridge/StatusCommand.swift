import ArgumentParser
import EventMapping
import Foundation
import WalBridge

/// `walbridge status`: the slot, its lag and retained WAL, and the checkpoint.
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

            Examples:
              walbridge status --config walbridge.yaml
              walbridge status --config walbridge.yaml --json | jq .lagBytes
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let configuration = try CommandSupport.loadConfiguration(config)
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
