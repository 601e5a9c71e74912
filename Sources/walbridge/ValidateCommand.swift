import ArgumentParser
import EventMapping
import Foundation
import Logging
import WalBridge

/// `walbridge validate`: check the configuration, then the database, change nothing.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the configuration and the database (tables, columns, wal_level, rights); change nothing.",
        discussion: """
            Exit status 0 when everything is in order, 2 when the configuration or the
            database's answer to it is wrong, 1 when Postgres cannot be reached.

            Example:
              walbridge validate --config walbridge.yaml
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    func run() throws {
        let configuration = try CommandSupport.loadConfiguration(config)
        let logger = CommandSupport.bootstrapLogging(level: .warning, format: configuration.logging.format)
        print("configuration \(config): ok (\(configuration.mappings.count) mapping(s))")
        do {
            let report = try SourceValidation.validate(configuration, logger: logger)
            print("postgres \(report.server): ok (Postgres \(report.serverVersion), system \(report.systemID), database \(report.database))")
            for line in report.checks { print("  ok: \(line)") }
            for warning in report.warnings { print("  warning: \(warning)") }
            for item in report.wouldCreate { print("  run will create: \(item)") }
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }
}
