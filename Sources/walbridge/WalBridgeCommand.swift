import ArgumentParser
import Foundation

/// The `walbridge` command line: wires configuration, logging and signals to
/// the `WalBridge` module and turns failures into exit statuses (0 ok,
/// 1 runtime failure, 2 bad configuration or usage).
@main
struct WalBridgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walbridge",
        abstract: "Publish Postgres row changes as domain events to Kafka.",
        discussion: """
            Examples:
              walbridge validate --config walbridge.yaml
              walbridge run --config walbridge.yaml
              walbridge snapshot --config walbridge.yaml --table public.users
              walbridge status --config walbridge.yaml --json
              walbridge --version
            """,
        version: WalBridgeVersion.current,
        subcommands: [RunCommand.self, SnapshotCommand.self, ValidateCommand.self, SchemaCommand.self, StatusCommand.self, SlotCommand.self, DevBrokerCommand.self, DevConsumeCommand.self]
    )

    /// The parser's own `main`, except that a usage error (a missing or unknown
    /// option, an unknown subcommand, a value an option does not accept) exits 2
    /// as docs/operations.md ("Exit status") says, not with the parser's default 64 (`EX_USAGE`). The
    /// parser's message, help hint and usage line still go to standard error;
    /// `--help` and `--version` still exit 0.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(CommandSupport.usageStatus)
        }
    }
}

/// The version `--version` prints.
enum WalBridgeVersion {
    static let current = "0.1.0"
}
