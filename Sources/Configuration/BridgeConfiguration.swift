import PostgresReplication

/// The whole WalBridge configuration, as read from its YAML file.
///
/// Build it with `load(path:environment:)` or `parse(yaml:source:environment:)`;
/// every value has been checked and every default filled in.
/// `description` never shows the Postgres password nor Kafka property values.
public struct BridgeConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// `postgres:` — the source database and its replication slot.
    public struct PostgresSettings: Sendable, Hashable, CustomStringConvertible {
        /// `url`: a libpq connection URL (`postgres://user:pass@host:5432/db`).
        /// Secret: log `redactedURL`, never this.
        public var url: String
        /// `slot`: the logical replication slot (default `walbridge`).
        public var slot: String
        /// `publication`: the publication to stream (default `walbridge`).
        public var publication: String
        /// `replay_window`: how much WAL the slot keeps replayable (default 0).
        public var replayWindow: Duration
        /// `failover_slot`: create (or alter) the slot with `FAILOVER`, so
        /// Postgres 17+ synchronises it to standbys and it survives a promotion (default false).
        public var failoverSlot: Bool
        /// `primary_url`: where backfill watermarks are written when `url`
        /// names a hot standby (nil: `url` itself). Secret, like `url`.
        public var primaryURL: String?

        public init(url: String, slot: String = "walbridge", publication: String = "walbridge", replayWindow: Duration = .zero,
                    failoverSlot: Bool = false, primaryURL: String? = nil) {
            self.url = url
            self.slot = slot
            self.publication = publication
            self.replayWindow = replayWindow
            self.failoverSlot = failoverSlot
            self.primaryURL = primaryURL
        }

        /// The URL with its password replaced by `***`.
        public var redactedURL: String { Configuration.redactedURL(url) }

        public var description: String {
            "postgres(url: \(redactedURL), slot: \(slot), publication: \(publication), replay_window: \(DurationText.format(replayWindow)), "
                + "failover_slot: \(failoverSlot)\(primaryURL.map { ", primary_url: \(Configuration.redactedURL($0))" } ?? ""))"
        }
    }

    /// `kafka:` — where events are published.
    public struct KafkaSettings: Sendable, Hashable, CustomStringConvertible {
        /// `bootstrap_servers`: `host:port[,host:port…]`.
        public var bootstrapServers: String
        /// `properties`: passed through to librdkafka; YAML scalars of any kind
        /// become strings (`true` → `"true"`, `5` → `"5"`). Values may be secrets.
        public var properties: [String: String]
        /// `dead_letter_topic`: where unpublishable records go; nil = off.
        public var deadLetterTopic: String?
        /// `format` (default `walbridge`): the format of every table mapping without its own `format:`.
        public var format: EventFormat = .walbridge

        public init(bootstrapServers: String, properties: [String: String] = [:], deadLetterTopic: String? = nil) {
            self.bootstrapServers = bootstrapServers
            self.properties = properties
            self.deadLetterTopic = deadLetterTopic
        }

        public var description: String {
            let names = properties.keys.sorted().map { "\($0)=***" }.joined(separator: ", ")
            return "kafka(bootstrap_servers: \(bootstrapServers), properties: [\(names)], dead_letter_topic: \(deadLetterTopic ?? "null"))"
        }
    }

    /// `checkpoint:` — where the delivered position is stored.
    public struct CheckpointSettings: Sendable, Hashable {
        /// `path` (default `./walbridge-state/checkpoint.json`).
        public var path: String
        public init(path: String = "./walbridge-state/checkpoint.json") { self.path = path }
    }

    /// `logging.level`, from most to least verbose.
    public enum LogLevel: String, Sendable, Hashable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// `logging.format`: human-readable lines or one JSON object per line.
    public enum LogFormat: String, Sendable, Hashable, CaseIterable {
        case text, json
    }

    /// `logging:`.
    public struct LoggingSettings: Sendable, Hashable {
        public var level: LogLevel
        public var format: LogFormat
        public init(level: LogLevel = .info, format: LogFormat = .text) {
            self.level = level
            self.format = format
        }
    }

    /// `metrics:` — the HTTP listener for `/metrics`, `/healthz`, `/readyz`, `/status`.
    public struct MetricsSettings: Sendable, Hashable {
        /// `listen`: `host:port` (`127.0.0.1:9187`, `[::1]:9187`); nil = off.
        public var listen: String?
        /// `ready_max_lag`: `/readyz` fails while the slot lags more than this (default 5m).
        public var readyMaxLag: Duration
        public init(listen: String? = nil, readyMaxLag: Duration = .seconds(300)) {
            self.listen = listen
            self.readyMaxLag = readyMaxLag
        }

        /// `listen` split into host and port (brackets of an IPv6 host removed).
        public var listenAddress: (host: String, port: Int)? {
            listen.flatMap(HostPort.parse)
        }
    }

    public var postgres: PostgresSettings
    public var kafka: KafkaSettings
    public var checkpoint: CheckpointSettings
    /// `shutdown_timeout` (default 10s).
    public var shutdownTimeout: Duration
    public var logging: LoggingSettings
    public var metrics: MetricsSettings
    /// `mappings`, in file order.
    public var mappings: [Mapping]
    /// The file name the configuration was read from (for messages).
    public var source: String

    public init(
        postgres: PostgresSettings,
        kafka: KafkaSettings,
        checkpoint: CheckpointSettings = .init(),
        shutdownTimeout: Duration = .seconds(10),
        logging: LoggingSettings = .init(),
        metrics: MetricsSettings = .init(),
        mappings: [Mapping],
        source: String = "<memory>"
    ) {
        self.postgres = postgres
        self.kafka = kafka
        self.checkpoint = checkpoint
        self.shutdownTimeout = shutdownTimeout
        self.logging = logging
        self.metrics = metrics
        self.mappings = mappings
        self.source = source
    }

    /// The `kind: table` mappings, in file order.
    public var tableMappings: [TableMapping] {
        mappings.compactMap { if case .table(let mapping) = $0 { mapping } else { nil } }
    }

    /// The `kind: outbox` mappings, in file order.
    public var outboxMappings: [OutboxMapping] {
        mappings.compactMap { if case .outbox(let mapping) = $0 { mapping } else { nil } }
    }

    /// The `kind: message` mappings, in file order.
    public var messageMappings: [MessageMapping] {
        mappings.compactMap { if case .message(let mapping) = $0 { mapping } else { nil } }
    }

    /// Every table a mapping reads (table and outbox kinds), in file order:
    /// the tables the publication must contain.
    public var mappedTables: [QualifiedName] {
        mappings.compactMap(\.table)
    }

    public var description: String {
        "\(postgres), \(kafka), checkpoint: \(checkpoint.path), shutdown_timeout: \(DurationText.format(shutdownTimeout)), "
            + "logging: \(logging.level.rawValue)/\(logging.format.rawValue), metrics: \(metrics.listen ?? "null"), mappings: \(mappings.count)"
    }
}

/// `host:port` parsing for listen addresses.
enum HostPort {
    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return nil }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil
        }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        return (host, port)
    }
}
