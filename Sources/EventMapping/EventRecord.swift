/// One Kafka record header.
public struct EventHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// A Kafka record ready to produce: an event, or a tombstone (`value == nil`).
public struct EventRecord: Sendable, Hashable {
    public var topic: String
    /// The Kafka key: the key value as text for a one-column key, a compact
    /// JSON object of the published key fields for a composite key.
    public var key: [UInt8]?
    /// The UTF-8 JSON envelope; nil for a tombstone.
    public var value: [UInt8]?
    /// `event-type`, `event-id`, `schema-version`, `content-type` (none on a tombstone).
    public var headers: [EventHeader]
    /// The event id (for logs and tests); a tombstone carries its delete's id.
    public var eventID: String
    /// The event type (`UserRegistered`); a tombstone carries its delete's type.
    public var eventType: String

    public init(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [EventHeader], eventID: String, eventType: String) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.eventID = eventID
        self.eventType = eventType
    }

    /// Whether this is a tombstone (a nil value that deletes the key in a compacted topic).
    public var isTombstone: Bool { value == nil }

    /// The value of the first header with this name.
    public func header(_ name: String) -> [UInt8]? {
        headers.first { $0.name == name }?.value
    }
}
