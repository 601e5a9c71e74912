internal import CRdKafka

/// How to build a ``KafkaProducer``: where the brokers are, and librdkafka
/// properties (`kafka.properties` in WalBridge's YAML) passed through as they are.
///
/// Properties are applied in this order, later ones winning:
/// ``KafkaProducerConfiguration/defaultProperties``, `client.id`,
/// `bootstrap.servers`, then ``properties``. So anything here overrides our
/// defaults, including `bootstrap.servers` if set there too.
///
/// A plain value: `Sendable`.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    /// `host:port[,host:port...]`.
    public var bootstrapServers: String
    /// librdkafka properties (CONFIGURATION.md), applied last.
    public var properties: [String: String]
    /// `client.id`; `walbridge` when nil.
    public var clientID: String?

    public init(bootstrapServers: String, properties: [String: String] = [:], clientID: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
        self.clientID = clientID
    }

    /// WalBridge's producer defaults, and why:
    ///
    /// - `enable.idempotence=true`, `acks=all`: no loss and no reordering or
    ///   duplicates from librdkafka's own retries (docs/delivery.md, "The promises").
    /// - `message.timeout.ms=0` (infinite): a record is never given up because
    ///   the cluster was away for a while. A transient outage must never move
    ///   the watermark past a record, so a finite timeout would only turn an
    ///   outage into "re-produce everything that timed out", which with
    ///   several records in flight per partition risks reordering. With 0,
    ///   librdkafka keeps each partition's records in order and retries them
    ///   forever (`retries` defaults to INT32_MAX); outages are visible through
    ///   the client errors (`_ALL_BROKERS_DOWN`, `_TRANSPORT`) and
    ///   ``KafkaProducer/outstandingCount``, and shutdown is bounded by
    ///   ``KafkaProducer/close()`` purging the queue.
    /// - `linger.ms=5`: small batches, latency well under the 100 ms budget.
    /// - `queue.buffering.max.messages=1000000`: the pipeline bounds its own
    ///   in-flight events (count and bytes) well below this, so librdkafka's
    ///   queue is never the limit and `_QUEUE_FULL` is only a safety net.
    ///   `queue.buffering.max.kbytes` keeps librdkafka's default (1 GiB).
    /// - `partitioner=murmur2_random`: the same key→partition mapping as Java
    ///   clients' default partitioner, so a key lands on the partition other
    ///   Kafka tooling expects (librdkafka's own default, `consistent_random`,
    ///   uses CRC32 and disagrees with Java).
    static let defaultProperties: [(String, String)] = [
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("message.timeout.ms", "0"),
        ("linger.ms", "5"),
        ("queue.buffering.max.messages", "1000000"),
        ("partitioner", "murmur2_random"),
    ]

    /// The defaults as a dictionary (for documentation, `walbridge validate` output).
    public static var defaults: [String: String] {
        Dictionary(uniqueKeysWithValues: defaultProperties)
    }
}

/// How to build a ``KafkaConsumer`` (tests and the demo's "show events
/// arriving"). A plain value: `Sendable`.
///
/// Defaults: `auto.offset.reset=earliest`, `enable.auto.commit=false`, a
/// random `group.id` (`walbridge-reader-<random>`) when ``groupID`` is nil.
/// ``properties`` are applied last.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    public var bootstrapServers: String
    public var groupID: String?
    public var properties: [String: String]
    public var clientID: String?

    public init(
        bootstrapServers: String,
        groupID: String? = nil,
        properties: [String: String] = [:],
        clientID: String? = nil
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.properties = properties
        self.clientID = clientID
    }
}

// MARK: - Building rd_kafka_conf_t

/// Names of properties whose values are secrets: never logged, never echoed in
/// an error. `password`, `secret`, every `sasl.` property, and `ssl.key`
/// (`ssl.key.pem` is a private key, `ssl.key.password` its passphrase).
func isSecretProperty(_ name: String) -> Bool {
    let lower = name.lowercased()
    return lower.contains("password") || lower.contains("secret") || lower.contains("sasl.")
        || lower.contains("ssl.key")
}

/// Replaces every occurrence of a secret value in `text`.
func redactSecrets(in text: String, values: [String]) -> String {
    var result = text
    // Longest first, so a secret that contains another is redacted whole.
    for value in values.filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
        result = result.replacingAll(value, with: "[redacted]")
    }
    return result
}

extension String {
    /// `replacingOccurrences(of:with:)` without Foundation.
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        out += rest
        return out
    }
}

/// Owns an `rd_kafka_conf_t` until it is handed to `rd_kafka_new`.
struct ConfBuilder: ~Copyable {
    private(set) var conf: OpaquePointer?
    /// Values of secret properties set so far, to redact from any message.
    private(set) var secretValues: [String] = []

    init() {
        conf = rd_kafka_conf_new()
    }

    deinit {
        if let conf { rd_kafka_conf_destroy(conf) }
    }

    /// Sets one property; a typed configuration error names the property and
    /// carries librdkafka's message, with secret values redacted.
    mutating func set(_ name: String, _ value: String) throws(KafkaError) {
        if isSecretProperty(name) { secretValues.append(value) }
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        var librdkafkaMessage = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        librdkafkaMessage = redactSecrets(in: librdkafkaMessage, values: secretValues)
        let message: String
        if result == RD_KAFKA_CONF_UNKNOWN {
            message = "unknown librdkafka property \"\(name)\" (\(librdkafkaMessage)); "
                + "see librdkafka's CONFIGURATION.md for valid names"
        } else {
            let shown = isSecretProperty(name) ? "value (not shown: secret)" : "value \"\(value)\""
            message = "invalid \(shown) for librdkafka property \"\(name)\": \(librdkafkaMessage)"
        }
        throw KafkaError(code: .invalidArgument, kind: .configuration, message: message, property: name)
    }

    func get(_ name: String) -> String? {
        var size = 0
        guard rd_kafka_conf_get(conf, name, nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, name, &buffer, &size) == RD_KAFKA_CONF_OK else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Hands the configuration to `rd_kafka_new`. On success librdkafka owns
    /// the conf; on failure it is destroyed here and a configuration error is thrown.
    consuming func makeHandle(type: rd_kafka_type_t) throws(KafkaError) -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        let handle = rd_kafka_new(type, conf, &errstr, errstr.count)
        guard let handle else {
            let raw = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = redactSecrets(in: raw, values: secretValues)
            // conf is still ours: the deinit destroys it.
            throw KafkaError(
                code: .invalidArgument, kind: .configuration,
                message: "librdkafka refused the configuration: \(message)")
        }
        conf = nil  // owned by the handle now
        return handle
    }
}

// MARK: - Printing without secrets

/// `key=value, ...` with secret values replaced by `[redacted]`.
func redactedDescription(of properties: [String: String]) -> String {
    properties.keys.sorted().map { name in
        "\(name)=\(isSecretProperty(name) ? "[redacted]" : properties[name]!)"
    }.joined(separator: ", ")
}

extension KafkaProducerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Secret property values are redacted: safe to log.
    public var description: String {
        "KafkaProducerConfiguration(bootstrapServers: \(bootstrapServers), clientID: \(clientID ?? "walbridge"), "
            + "properties: [\(redactedDescription(of: properties))])"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [
            "bootstrapServers": bootstrapServers, "clientID": clientID as Any,
            "properties": redactedDescription(of: properties),
        ])
    }
}

extension KafkaConsumerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Secret property values are redacted: safe to log.
    public var description: String {
        "KafkaConsumerConfiguration(bootstrapServers: \(bootstrapServers), groupID: \(groupID ?? "random"), "
            + "properties: [\(redactedDescription(of: properties))])"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [
            "bootstrapServers": bootstrapServers, "groupID": groupID as Any,
            "properties": redactedDescription(of: properties),
        ])
    }
}
