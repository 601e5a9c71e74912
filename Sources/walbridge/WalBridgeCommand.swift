import ArgumentParser

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
}

/// The version `--version` prints.
enum WalBridgeVersion {
    static let current = "0.1.0"
}
