/// Why the bridge stopped or could not start, classified for the exit status
/// and the retry policy. Every message says what happened and what to do.
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

    public var kind: Kind
    public var message: String
    /// The replication stream held bytes WalBridge cannot decode, or messages
    /// out of protocol order (kind `.transient`): reconnecting streams it again,
    /// but only a bounded number of times (`CorruptStreamRetries`).
    public var isCorruptStream = false

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A corrupt replication stream: the session ends and the bridge reconnects, a bounded number of times.
    static func corruptStream(_ message: String) -> BridgeError {
        var error = BridgeError(.transient, message)
        error.isCorruptStream = true
        return error
    }

    public var description: String { message }

    /// The process exit status for this error.
    public var exitCode: Int32 { kind == .configuration ? 2 : 1 }
}

extension BridgeError {
    /// Wraps a Postgres error, keeping its classification.
    init(_ error: PostgresErrorLike, context: String) {
        let kind: Kind = error.isConfigurationError ? .configuration : (error.isTransient ? .transient : .fatal)
        self.init(kind, context.isEmpty ? error.message : "\(context): \(error.message)")
    }
}

/// The part of `PostgresError` that `BridgeError` needs.
protocol PostgresErrorLike {
    var isConfigurationError: Bool { get }
    var isTransient: Bool { get }
    var message: String { get }
}
