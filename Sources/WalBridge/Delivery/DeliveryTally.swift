/// What one unit of delivery has handed to Kafka, for the published-events
/// counters and the delivery-latency histogram: its events by label (the
/// first label inline, as most transactions have one; others in `more`), its
/// bytes, and when its first event was handed over. Metrics only: whether the
/// unit is delivered is the watermark's count, never this one.
struct DeliveryTally: Sendable, Equatable {
    /// When the first event was handed to Kafka (the core's clock, nanoseconds).
    var firstSent: UInt64
    var bytes = 0
    var label = -1
    var count = 0
    var more: [Int: Int]?

    init(firstSent: UInt64) {
        self.firstSent = firstSent
    }

    mutating func add(label index: Int, bytes size: Int) {
        bytes += size
        if label == index || label < 0 {
            label = index
            count += 1
        } else {
            more?[index, default: 0] += 1
            if more == nil { more = [index: 1] }
        }
    }

    mutating func remove(label index: Int) {
        if label == index, count > 0 {
            count -= 1
        } else if let current = more?[index], current > 0 {
            more?[index] = current - 1
        }
    }

    /// Every (label, count) with a count.
    var counts: [(label: Int, count: Int)] {
        var result: [(Int, Int)] = count > 0 ? [(label, count)] : []
        for (index, value) in more ?? [:] where value > 0 { result.append((index, value)) }
        return result
    }
}

/// The (table, event type) pairs of published events, each numbered once, for
/// the counters. The last one is remembered, so a run of one table's events hashes nothing.
struct PublishedLabels {
    struct Key: Hashable {
        var table: String
        var eventType: String
    }

    private(set) var keys: [Key] = []
    private var indexes: [Key: Int] = [:]
    private var last: (key: Key, index: Int)?

    subscript(index: Int) -> Key { keys[index] }

    mutating func index(table: String, eventType: String) -> Int {
        if let last, last.key.table == table, last.key.eventType == eventType { return last.index }
        let key = Key(table: table, eventType: eventType)
        let index: Int
        if let known = indexes[key] {
            index = known
        } else {
            index = keys.count
            keys.append(key)
            indexes[key] = index
        }
        last = (key, index)
        return index
    }
}
