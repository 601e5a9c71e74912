import Configuration
import EventMapping
import KafkaPublisher
import PostgresReplication

/// Why the bridge stopped or could not start: what failed (``code``), how the
/// caller reacts (``kind``: exit 2, retry, exit 1), the message for the
/// operator and, when another layer raised it, the error underneath
/// (``underlying``). Every message says what happened and what to do.
///
/// The classification is decided in one place, ``Kind/of(_:retryable:)``, from
/// the underlying error; a site that raises a `BridgeError` of its own names
/// the kind (or a code whose kind is fixed).
public struct BridgeError: Error, Sendable, CustomStringConvertible {
    /// How the caller should react.
    public enum Kind: Sendable, Hashable {
        /// The configuration, or what the database says about it, is wrong: exit 2.
        case configuration
        /// Reconnecting may help: retry with backoff.
        case transient
        /// A failure that retrying will not fix: exit 1.
        case fatal
    }

    /// What failed, stable across releases and message rewordings: for logs,
    /// metrics and tests to match on instead of the text.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case configurationInvalid, sourceMismatch, checkpointUnusable
            case postgresUnreachable, postgresRefused, postgresQueryFailed, postgresProtocolViolation
            case slotMissing, slotInUse, slotGap, streamEnded, corruptStream
            case mappingFailed, kafkaRejected, kafkaUnavailable
            case transientFailure, runtimeFailure
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The configuration file, a mapping, a flag or a request file is wrong.
        public static let configurationInvalid = Code(.configurationInvalid)
        /// The database does not match the configuration: a table, column,
        /// publication, replica identity or type the mappings need.
        public static let sourceMismatch = Code(.sourceMismatch)
        /// The checkpoint file cannot be read, or belongs to another system or slot.
        public static let checkpointUnusable = Code(.checkpointUnusable)
        /// Postgres could not be reached or dropped the connection.
        public static let postgresUnreachable = Code(.postgresUnreachable)
        /// Postgres refused who we are or what we asked (authentication, TLS,
        /// rights, wal_level, an unsupported version).
        public static let postgresRefused = Code(.postgresRefused)
        /// A query failed for another reason.
        public static let postgresQueryFailed = Code(.postgresQueryFailed)
        /// The server sent something the replication protocol does not allow.
        public static let postgresProtocolViolation = Code(.postgresProtocolViolation)
        /// The replication slot does not exist (lost, dropped, never created).
        public static let slotMissing = Code(.slotMissing)
        /// Another connection holds the replication slot.
        public static let slotInUse = Code(.slotInUse)
        /// The slot does not continue the checkpoint: changes in between are lost.
        public static let slotGap = Code(.slotGap)
        /// Postgres ended the replication stream.
        public static let streamEnded = Code(.streamEnded)
        /// The replication stream held bytes WalBridge cannot decode, or
        /// messages out of protocol order.
        public static let corruptStream = Code(.corruptStream)
        /// A change or logical message could not be turned into an event.
        public static let mappingFailed = Code(.mappingFailed)
        /// Kafka refused a record, or the producer failed.
        public static let kafkaRejected = Code(.kafkaRejected)
        /// The Kafka producer could not be created.
        public static let kafkaUnavailable = Code(.kafkaUnavailable)
        /// Another failure that reconnecting may cure.
        public static let transientFailure = Code(.transientFailure)
        /// Another failure that retrying will not fix.
        public static let runtimeFailure = Code(.runtimeFailure)

        public var description: String { base.rawValue }

        /// The code of an error raised with only a kind and a message.
        static func generic(_ kind: Kind) -> Code {
            switch kind {
            case .configuration: return .configurationInvalid
            case .transient: return .transientFailure
            case .fatal: return .runtimeFailure
            }
        }

        /// What failed in Postgres, from the error's own kind.
        static func of(_ error: PostgresError) -> Code {
            switch error.kind {
            case .unreachable: return .postgresUnreachable
            case .authentication, .tls, .configuration: return .postgresRefused
            case .query: return .postgresQueryFailed
            case .protocolViolation: return .postgresProtocolViolation
            }
        }
    }

    /// The error another layer raised, kept with its type.
    public enum Underlying: Sendable {
        case postgres(PostgresError)
        case kafka(KafkaError)
        case configuration(ConfigurationError)
        case mapping(MappingError)
        case checkpoint(CheckpointError)
    }

    /// What failed.
    public var code: Code
    /// How the caller should react.
    public var kind: Kind
    /// What the operator reads: what happened and what to do.
    public var message: String
    /// The error underneath, when another layer raised it.
    public var underlying: Underlying?

    /// A corrupt replication stream (kind `.transient`): reconnecting streams
    /// it again, but only a bounded number of times (`CorruptStreamRetries`).
    public var isCorruptStream: Bool { code == .corruptStream }

    /// An error of the given kind with no code of its own.
    public init(_ kind: Kind, _ message: String) {
        self.init(code: .generic(kind), kind: kind, message: message)
    }

    /// An error with a code and the kind its site decided (a refusal of
    /// WalBridge's own, or a kind that depends on more than the error underneath).
    public init(code: Code, kind: Kind, message: String, underlying: Underlying? = nil) {
        self.code = code
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    /// Wraps another layer's error, classified once (``Kind/of(_:retryable:)``).
    /// - Parameter retryable: false where the caller never reconnects (a CLI
    ///   command, the producer's creation): a transient cause is then fatal.
    public init(code: Code, _ underlying: Underlying, message: String, retryable: Bool = true) {
        self.init(code: code, kind: .of(underlying, retryable: retryable), message: message, underlying: underlying)
    }

    /// A corrupt replication stream: the session ends and the bridge reconnects, a bounded number of times.
    static func corruptStream(_ message: String) -> BridgeError {
        BridgeError(code: .corruptStream, kind: .transient, message: message)
    }

    public var description: String { message }

    /// The process exit status for this error.
    public var exitCode: Int32 { kind == .configuration ? 2 : 1 }
}

extension BridgeError.Kind {
    /// The one classification of another layer's error: configuration (exit 2),
    /// transient (retry) or fatal (exit 1).
    /// - Parameter retryable: false where the caller never reconnects: what
    ///   would be transient is fatal there.
    public static func of(_ underlying: BridgeError.Underlying, retryable: Bool = true) -> Self {
        let kind: Self
        switch underlying {
        case .postgres(let error):
            kind = error.isConfigurationError ? .configuration : (error.isTransient ? .transient : .fatal)
        case .kafka(let error):
            // A permanent error recurs for the same record; anything else the
            // producer's rebuild or librdkafka's retries may cure.
            kind = error.isConfigurationError ? .configuration : (error.isPermanent ? .fatal : .transient)
        case .configuration:
            kind = .configuration
        case .mapping:
            kind = .fatal
        case .checkpoint(let error):
            // An unreadable file is the host's problem; a foreign or corrupt one the configuration's.
            kind = error.isIOFailure ? .fatal : .configuration
        }
        return kind == .transient && !retryable ? .fatal : kind
    }
}

extension BridgeError {
    /// Wraps a Postgres error, keeping its classification: "context: message",
    /// or the message alone when `context` is empty.
    public init(_ error: PostgresError, context: String, retryable: Bool = true) {
        self.init(code: .of(error), .postgres(error), message: context.isEmpty ? error.message : "\(context): \(error.message)",
                  retryable: retryable)
    }

    /// Wraps an unusable checkpoint file (its message as it is).
    init(_ error: CheckpointError) {
        self.init(code: .checkpointUnusable, .checkpoint(error), message: "\(error)")
    }
}
