import ArgumentParser
import EventMapping
import Foundation
import PostgresReplication
import WalBridge

/// `walbridge run`: stream changes until SIGTERM or SIGINT.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Stream row changes from Postgres to Kafka until stopped.",
        discussion: """
            Resumes from the checkpoint file; on the first start, from the slot's position.
            SIGTERM or SIGINT: stop reading, wait for outstanding deliveries (shutdown_timeout),
            write the checkpoint and exit 0. A second signal exits at once with status 130.

            Examples:
              walbridge run --config walbridge.yaml
              walbridge run --config walbridge.yaml --from-lsn 0/16B3748
              walbridge run --config walbridge.yaml --wait-for-slot    # hot standby
              walbridge run --config walbridge.yaml --recreate-slot    # after a lost slot: record the gap, backfill
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    @Option(name: .customLong("from-lsn"), help: "Republish every transaction whose end LSN is above X/Y.",
            transform: { text throws(ValidationError) -> LSN in
                guard let lsn = LSN(text) else {
                    throw ValidationError("'\(text)' is not an LSN; write it as Postgres does, X/Y in hexadecimal (for example 0/16B3748)")
                }
                return lsn
            })
    var fromLSN: LSN?

    @Flag(name: .customLong("wait-for-slot"), help: "When another WalBridge holds the slot, stand by and take over when it is released.")
    var waitForSlot = false

    @Flag(name: .customLong("recreate-slot"), help: ArgumentHelp(
        "When the checkpoint's slot is lost (missing, or replaced by another slot), create or adopt one anyway: record the gap in the checkpoint and backfill the mapped tables.",
        discussion: "Without it, `run` refuses to start past such a gap (exit 2). See docs/operations.md, \"Lost slot\"."))
    var recreateSlot = false

    func run() throws {
        var options = BridgeOptions(waitForSlot: waitForSlot)
        options.recreateSlot = recreateSlot
        if fromLSN != nil && recreateSlot {
            CommandSupport.fail("--from-lsn and --recreate-slot do not go together: a recreated slot cannot replay what the lost one had; drop --from-lsn", status: 2)
        }
        options.fromLSN = fromLSN
        let configuration = try CommandSupport.loadConfiguration(config)
        let logger = CommandSupport.bootstrapLogging(level: configuration.logging.level, format: configuration.logging.format)
        let stop = StopSignal()
        CommandSupport.handleTerminationSignals { stop.request() }
        let bridge = Bridge(configuration: configuration, options: options, stop: stop, logger: logger)
        do {
            try bridge.run()
        } catch {
            logger.critical("\(error.message)")
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }
}
