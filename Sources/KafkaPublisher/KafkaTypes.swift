/// One Kafka record header: a name and an optional byte value (Kafka allows a
/// null header value). A plain value: `Sendable`.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// A header whose value is the UTF-8 bytes of `string`.
    public init(name: String, string: String) {
        self.name = name
        self.value = Array(string.utf8)
    }

    /// The value decoded as UTF-8 (invalid bytes replaced), or nil for a null value.
    public var stringValue: String? {
        value.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The outcome of one produced record, handed back by ``KafkaProducer/poll(timeoutMilliseconds:)``.
///
/// `token` is the value given to ``KafkaProducer/produce(topic:key:value:headers:token:)``.
/// `error == nil` means acknowledged by the broker with the producer's `acks`
/// (`all` by default); otherwise the error's classification says what to do.
/// A plain value: `Sendable`.
public struct DeliveryReport: Sendable, Hashable {
    public var token: UInt64
    /// nil = delivered (acknowledged).
    public var error: KafkaError?
    /// The partition the record went to (or was meant for; -1 if never assigned).
    public var partition: Int32
    /// The record's offset in `partition`; -1 when not delivered or unknown.
    public var offset: Int64
    /// The record itself, for a failed delivery only (so a permanent failure can
    /// be dead-lettered); nil for delivered records, which cost no copy.
    public var failedRecord: FailedRecord?

    public init(token: UInt64, error: KafkaError?, partition: Int32, offset: Int64, failedRecord: FailedRecord? = nil) {
        self.token = token
        self.error = error
        self.partition = partition
        self.offset = offset
        self.failedRecord = failedRecord
    }

    /// True when the broker acknowledged the record.
    public var isDelivered: Bool { error == nil }
}

/// The topic, key and value of a record whose delivery failed.
public struct FailedRecord: Sendable, Hashable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]?
    public init(topic: String, key: [UInt8]?, value: [UInt8]?) {
        self.topic = topic
        self.key = key
        self.value = value
    }
}

/// One record read by ``KafkaConsumer``. A plain value: `Sendable`.
public struct ConsumedRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// nil = null key.
    public var key: [UInt8]?
    /// nil = null value (a tombstone).
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// The record's timestamp in milliseconds since the epoch, when the broker sent one.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader], timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The first header named `name`, if any.
    public func header(_ name: String) -> KafkaHeader? {
        headers.first { $0.name == name }
    }
}
