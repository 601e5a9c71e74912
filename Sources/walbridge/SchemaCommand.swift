import ArgumentParser
import EventMapping
import Foundation
import WalBridge

/// `walbridge schema`: print the JSON Schema (draft 2020-12) of every configured event.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of every configured event, derived from the column types.",
        discussion: """
            Prints one JSON object keyed by event type (an outbox mapping as
            "outbox:<table>"); each value is a complete JSON Schema of that event's
            envelope. Reads the catalog, changes nothing. Exit status 0, 2 for a
            configuration the database disagrees with, 1 when Postgres cannot be reached.

            Example:
              walbridge schema --config walbridge.yaml > events.schema.json
            """)

    @Option(name: .long, help: "The YAML configuration file.")
    var config: String

    func run() throws {
        let configuration = try CommandSupport.loadConfiguration(config)
        let logger = CommandSupport.bootstrapLogging(level: .warning, format: configuration.logging.format)
        do {
            let schemas = try SourceSchemas.eventSchemas(configuration, logger: logger)
            CommandSupport.emit(SourceSchemas.document(schemas))
        } catch {
            CommandSupport.fail(error.message, status: error.exitCode)
        }
    }
}
