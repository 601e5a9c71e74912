import Yams

extension BridgeConfiguration {
    /// Reads and checks a configuration file.
    ///
    /// - Parameters:
    ///   - path: the YAML file; its name appears in every error message.
    ///   - environment: the variables `${NAME}` may name (usually
    ///     `ProcessInfo.processInfo.environment`).
    public static func load(path: String, environment: [String: String]) throws(ConfigurationError) -> BridgeConfiguration {
        guard let text = EnvironmentSubstitution.readFile(path) else {
            throw ConfigurationError(kind: .unreadableFile, source: path, keyPath: "",
                                     message: "cannot read the configuration file; check the path given to --config and that the file is readable UTF-8 text")
        }
        return try parse(yaml: text, source: path, environment: environment)
    }

    /// Parses and checks configuration text.
    ///
    /// - Parameters:
    ///   - yaml: the YAML text.
    ///   - source: the file name to show in error messages.
    ///   - environment: the variables `${NAME}` may name.
    public static func parse(yaml: String, source: String, environment: [String: String]) throws(ConfigurationError) -> BridgeConfiguration {
        try parse(yaml: yaml, source: source, environment: environment, readFile: EnvironmentSubstitution.readFile)
    }

    static func parse(
        yaml: String, source: String, environment: [String: String], readFile: @escaping (String) -> String?
    ) throws(ConfigurationError) -> BridgeConfiguration {
        let reader = YAMLReader(source: source, environment: environment, readFile: readFile)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw reader.error(.missingKey("postgres"), "", nil,
                                   "the file is empty; it needs at least postgres, kafka and mappings (see the example in the documentation)")
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch let error as YamlError {
            throw YAMLErrorTranslation.configurationError(error, source: source)
        } catch {
            throw ConfigurationError(kind: .malformedYAML, source: source, keyPath: "", message: "the file is not valid YAML")
        }
        return try decode(root, reader: reader)
    }

    static let topLevelKeys = ["postgres", "kafka", "checkpoint", "shutdown_timeout", "logging", "metrics", "mappings"]

    static func decode(_ root: Node, reader: YAMLReader) throws(ConfigurationError) -> BridgeConfiguration {
        let entries = try reader.entries(root, "", expected: "a mapping with the keys postgres, kafka and mappings")
        try reader.checkKeys(entries, allowed: topLevelKeys, in: "", place: "at the top level")
        func value(_ key: String) -> Node? {
            entries.first { $0.key == key && !YAMLReader.isNull($0.value) }?.value
        }

        let postgresEntry = try reader.required(entries, "postgres", in: "", root, hint: "add a postgres: section with at least url:")
        let postgres = try decodePostgres(postgresEntry.value, reader: reader)
        let kafkaEntry = try reader.required(entries, "kafka", in: "", root, hint: "add a kafka: section with at least bootstrap_servers:")
        let kafka = try decodeKafka(kafkaEntry.value, reader: reader)

        var checkpoint = CheckpointSettings()
        if let node = value("checkpoint") {
            let section = try reader.entries(node, "checkpoint")
            try reader.checkKeys(section, allowed: ["path"], in: "checkpoint", place: "in checkpoint")
            if let path = section.first(where: { $0.key == "path" && !YAMLReader.isNull($0.value) }) {
                checkpoint.path = try reader.string(path.value, path.path)
            }
        }

        var shutdownTimeout = Duration.seconds(10)
        if let node = value("shutdown_timeout") {
            shutdownTimeout = try reader.duration(node, "shutdown_timeout")
        }

        var logging = LoggingSettings()
        if let node = value("logging") {
            let section = try reader.entries(node, "logging")
            try reader.checkKeys(section, allowed: ["level", "format"], in: "logging", place: "in logging")
            for entry in section where !YAMLReader.isNull(entry.value) {
                if entry.key == "level" { logging.level = try reader.choice(entry.value, entry.path, LogLevel.self) }
                if entry.key == "format" { logging.format = try reader.choice(entry.value, entry.path, LogFormat.self) }
            }
        }

        var metrics = MetricsSettings()
        if let node = value("metrics") {
            let section = try reader.entries(node, "metrics")
            try reader.checkKeys(section, allowed: ["listen", "ready_max_lag"], in: "metrics", place: "in metrics")
            if let bound = section.first(where: { $0.key == "ready_max_lag" && !YAMLReader.isNull($0.value) }) {
                metrics.readyMaxLag = try reader.duration(bound.value, bound.path)
            }
            if let listen = section.first(where: { $0.key == "listen" }),
               let address = try reader.optionalString(listen.value, listen.path) {
                guard HostPort.parse(address) != nil else {
                    throw reader.error(.invalidValue, listen.path, listen.value,
                                       "'\(address)' is not host:port with a port from 1 to 65535; write e.g. 127.0.0.1:9187 or [::1]:9187, or null to turn metrics off")
                }
                metrics.listen = address
            }
        }

        let mappingsEntry = try reader.required(entries, "mappings", in: "", root,
                                                hint: "add a mappings: list with at least one table (see the example in the documentation)")
        let mappings = try MappingDecoder(reader: reader, defaultFormat: kafka.format).decodeAll(mappingsEntry.value)

        if let deadLetterTopic = kafka.deadLetterTopic,
           let clash = mappings.first(where: { mapping in
               switch mapping {
               case .table(let table): table.topic == deadLetterTopic
               case .outbox(let outbox): outbox.topic == deadLetterTopic
               case .message(let message): message.topic == deadLetterTopic
               }
           }) {
            throw reader.error(.invalidValue, "kafka.dead_letter_topic", kafkaEntry.value,
                               "'\(deadLetterTopic)' is also the topic of mappings[\(clash.index)]; give the dead-letter topic its own name")
        }

        return BridgeConfiguration(
            postgres: postgres, kafka: kafka, checkpoint: checkpoint, shutdownTimeout: shutdownTimeout,
            logging: logging, metrics: metrics, mappings: mappings, source: reader.source
        )
    }

    static func decodePostgres(_ node: Node, reader: YAMLReader) throws(ConfigurationError) -> PostgresSettings {
        let section = try reader.entries(node, "postgres")
        try reader.checkKeys(section, allowed: ["url", "slot", "publication", "replay_window", "failover_slot", "primary_url"],
                             in: "postgres", place: "in postgres")
        let urlEntry = try reader.required(section, "url", in: "postgres", node,
                                           hint: "write url: postgres://USER:${PGPASSWORD}@HOST:5432/DATABASE")
        let url = try reader.string(urlEntry.value, urlEntry.path, sensitive: true)
        if let problem = PostgresURLCheck.problem(in: url) {
            throw reader.error(.invalidValue, urlEntry.path, urlEntry.value,
                               "\(problem) (the URL, password hidden: \(redactedURL(url))); write postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        var settings = PostgresSettings(url: url)
        for entry in section where !YAMLReader.isNull(entry.value) {
            switch entry.key {
            case "slot":
                settings.slot = try reader.string(entry.value, entry.path)
                try checkPostgresName(settings.slot, entry, reader: reader, what: "a replication slot name")
            case "publication":
                settings.publication = try reader.string(entry.value, entry.path)
            case "replay_window":
                settings.replayWindow = try reader.duration(entry.value, entry.path)
            case "failover_slot":
                settings.failoverSlot = try reader.bool(entry.value, entry.path)
            case "primary_url":
                let primary = try reader.string(entry.value, entry.path, sensitive: true)
                if let problem = PostgresURLCheck.problem(in: primary) {
                    throw reader.error(.invalidValue, entry.path, entry.value,
                                       "\(problem) (the URL, password hidden: \(redactedURL(primary))); write postgres://USER:PASSWORD@PRIMARY:PORT/DATABASE")
                }
                settings.primaryURL = primary
            default:
                break
            }
        }
        return settings
    }

    /// Slot names: lower-case letters, digits and `_`, at most 63 bytes (Postgres's rule).
    static func checkPostgresName(_ name: String, _ entry: YAMLReader.Entry, reader: YAMLReader, what: String) throws(ConfigurationError) {
        let valid = name.utf8.count <= 63 && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
        guard valid else {
            throw reader.error(.invalidValue, entry.path, entry.value,
                               "'\(name)' is not \(what): use only lower-case letters, digits and '_' (at most 63 characters)")
        }
    }

    static func decodeKafka(_ node: Node, reader: YAMLReader) throws(ConfigurationError) -> KafkaSettings {
        let section = try reader.entries(node, "kafka")
        try reader.checkKeys(section, allowed: ["bootstrap_servers", "properties", "dead_letter_topic", "format"], in: "kafka", place: "in kafka")
        let serversEntry = try reader.required(section, "bootstrap_servers", in: "kafka", node,
                                               hint: "write bootstrap_servers: HOST:PORT[,HOST:PORT...]")
        var settings = KafkaSettings(bootstrapServers: try reader.string(serversEntry.value, serversEntry.path))
        for entry in section where !YAMLReader.isNull(entry.value) {
            switch entry.key {
            case "properties":
                for property in try reader.entries(entry.value, entry.path) {
                    if YAMLReader.isNull(property.value) {
                        throw reader.error(.invalidValue, property.path, property.value,
                                           "has no value; give it one or remove the property")
                    }
                    settings.properties[property.key] = try reader.text(
                        property.value, property.path, expected: "a single value (string, number or boolean)", sensitive: true)
                }
            case "format":
                settings.format = try reader.choice(entry.value, entry.path, EventFormat.self)
            case "dead_letter_topic":
                if let topic = try reader.optionalString(entry.value, entry.path) {
                    if let problem = KafkaTopicName.problem(topic) {
                        throw reader.error(.invalidValue, entry.path, entry.value, problem)
                    }
                    settings.deadLetterTopic = topic
                }
            default:
                break
            }
        }
        return settings
    }
}
