/// The 64-bit value a record is produced under and that its delivery report
/// hands back: the sequence number of its unit of delivery (a transaction, or a
/// non-transactional logical message) in the low 40 bits, and the number of its
/// (table, event type) label in the high 24 bits.
///
/// Carrying the label lets a refused record be taken off its transaction's
/// published counts without reading its JSON back. Sequence numbers restart
/// with every session; 2^40 units outlast any session. A label number beyond
/// the 24 bits is carried as `unlabelled` (then a refused record stays counted).
struct DeliveryToken: Hashable, Sendable {
    let rawValue: UInt64

    static let sequenceBits: UInt64 = 40
    static let sequenceMask: UInt64 = (1 << sequenceBits) - 1
    /// The label value meaning "no label" (dead letters, or a label number too large to carry).
    static let unlabelled = Int((1 << (64 - sequenceBits)) - 1)

    init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    init(sequence: UInt64, label: Int) {
        let carried = label >= 0 && label < Self.unlabelled ? UInt64(label) : UInt64(Self.unlabelled)
        rawValue = (sequence & Self.sequenceMask) | (carried << Self.sequenceBits)
    }

    /// The unit of delivery (the watermark's token).
    var sequence: UInt64 { rawValue & Self.sequenceMask }
    /// The label number, or nil when unlabelled.
    var label: Int? {
        let value = Int(rawValue >> Self.sequenceBits)
        return value == Self.unlabelled ? nil : value
    }
}
