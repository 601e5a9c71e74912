import ArgumentParser
import EventMapping
import Foundation
import WalBridge

/// `walbridge slot`: manage the replication slot.
struct SlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot",
        abstract: "Manage the replication slot.",
        discussion: """
            Example:
              walbridge slot drop --config walbridge.yaml
            """,
        subcommands: [SlotDropCommand.self]
    )
}

/// `walbridge slot drop`: drop the configured slot, after asking.
struct SlotDropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop",
        abstract: "Drop the replication slot, so Postgres stops keeping WAL for it (asks first unless --yes).",
        discussion: """
            Changes committed after the slot's confirmed flush LSN and not yet
            published are then lost to WalBridge. Stop WalBridge first: a slot in
            use is never dropped. The publication and the checkpoint file are left
            as they are; while the checkpoint file is there, `run` refuses to start
            without the slot (exit 2). Remove the file to start over from a new slot,
            or run `walbridge run --recreate-slot` to record the gap and backfill.

            Examples:
              walbridge slot drop --config walbridge.yaml
              walbridge slot drop --config walbridge.yaml --yes     # no question (scripts)
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Drop without asking.")
    var yes = false

    func run() throws {
        let configuration = try CommandSupport.loadConfiguration(config)
        let slot = configuration.postgres.slot
        if !yes {
            var question = "Drop replication slot '\(slot)'"
            if let status = try? SourceStatus.read(configuration) {
                question += " in database '\(status.database)'"
                if status.lagBytes > 0 {
                    question += "? \(status.lagBytes) bytes of WAL after its confirmed flush LSN \(status.confirmedFlushLSN?.description ?? "-") would not be published"
                }
            }
            FileHandle.standardOutput.write(Data("\(question)? Type 'yes' to drop it: ".utf8))
            guard let answer = readLine() else {
                CommandSupport.fail("no answer on standard input; slot '\(slot)' was not dropped (pass --yes to drop it without asking)", status: 2)
            }
            guard answer.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else {
                CommandSupport.fail("slot '\(slot)' was not dropped (answer 'yes' to drop it)", status: 1)
            }
        }
        do {
            try SourceStatus.dropSlot(configuration)
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
        CommandSupport.emit("dropped replication slot '\(slot)'")
        if FileManager.default.fileExists(atPath: configuration.checkpoint.path) {
            CommandSupport.emit("checkpoint \(configuration.checkpoint.path) still records what the slot delivered: `walbridge run` refuses to start without the slot until you remove that file (start over from a new slot) or run `walbridge run --recreate-slot` (record the gap and backfill)")
        }
    }
}
