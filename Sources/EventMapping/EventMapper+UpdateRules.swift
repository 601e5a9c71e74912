import PostgresReplication

/// Why an update published nothing although its table has an update event.
public enum QuietUpdate: Sendable, Hashable {
    /// `skip_unchanged`: none of the columns the mapping reads changed.
    case unchanged
    /// No update rule matched.
    case unmatched
}

/// What `decideUpdate` chose.
enum UpdateDecision {
    /// Publish this event; nil means the mapping's `update: Name` event.
    case publish(CompiledTableMapping.Event?)
    case quiet(QuietUpdate)
}

/// One read column of an update: its old and new values when known.
struct ColumnChange {
    /// The old value; nil when unknown (the column is missing, or not sent).
    var old: PostgresValue?
    /// The new value; nil when unknown. An unchanged TOAST value is the old value.
    var new: PostgresValue?
    var changed: Bool

    /// Old value NULL, new value not NULL.
    var isSet: Bool {
        guard let old, let new else { return false }
        return old == .null && new != .null
    }

    /// Old value not NULL, new value NULL.
    var isCleared: Bool {
        guard let old, let new else { return false }
        return old != .null && new == .null
    }
}

extension EventMapper {
    /// Applies `skip_unchanged`, then the update rules in order (the first that
    /// matches wins), to an update of a mapping that has either.
    ///
    /// Both need the old row (`REPLICA IDENTITY FULL`); a mapping whose only
    /// rule has no `when` and no `skip_unchanged` does not.
    func decideUpdate(
        _ change: RowChange, compiled: CompiledTableMapping, fail: (MappingError.Reason) throws(MappingError) -> Never
    ) throws(MappingError) -> UpdateDecision {
        guard let new = change.new else { try fail(.missingRow("new row")) }
        guard change.oldKind == .full, let old = change.old else {
            if compiled.mapping.needsOldRow { try fail(.oldRowNotSent) }
            return .publish(compiled.rules?.first?.event)
        }
        let indexes = compiled.readIndexes(in: change.relation)
        func column(_ position: Int) -> ColumnChange {
            guard let index = indexes[position] else { return ColumnChange(old: nil, new: nil, changed: false) }
            let oldValue: PostgresValue? = if case .value(let value) = old[index] { value } else { nil }
            switch new[index] {
            case .unchangedToast:
                // Not sent because it did not change: the old row (FULL) has it.
                return ColumnChange(old: oldValue, new: oldValue, changed: false)
            case .value(let newValue):
                // An old value not sent (none under FULL) counts as changed: publish rather than lose an update.
                let changed = oldValue.map { !Self.same(newValue, $0) } ?? true
                return ColumnChange(old: oldValue, new: newValue, changed: changed)
            }
        }
        if compiled.skipUnchanged, !indexes.indices.contains(where: { column($0).changed }) {
            return .quiet(.unchanged)
        }
        guard let rules = compiled.rules else { return .publish(nil) }
        for rule in rules {
            guard rule.set.allSatisfy({ column($0).isSet }),
                  rule.cleared.allSatisfy({ column($0).isCleared }),
                  rule.changed.isEmpty || rule.changed.contains(where: { column($0).changed }) else { continue }
            return .publish(rule.event)
        }
        return .quiet(.unmatched)
    }

    /// `writeObjectBody` for a mapping with field transforms.
    func writeTransformedBody(
        _ writer: inout JSONWriter, count: Int, _ compiled: CompiledTableMapping,
        transforms: [CompiledTableMapping.Transform?], slot: (Int) -> FieldSlot
    ) {
        var first = true
        for position in 0..<count {
            guard case .value(let value) = slot(position) else { continue }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.raw(compiled.fieldKeys[position])
            if let transform = transforms[position] {
                writer.transformed(value, transform)
            } else {
                writer.value(value)
            }
        }
    }
}

extension JSONWriter {
    /// A transformed value: NULL stays null; anything else is a JSON string
    /// made from the value's text (`transformInput`).
    mutating func transformed(_ value: PostgresValue, _ transform: CompiledTableMapping.Transform) {
        if case .null = value {
            self.value(.null)
            return
        }
        let input = Self.transformInput(value)
        switch transform {
        case .hmacSHA256(let hmac):
            let code = hmac.authenticationCode(for: input)
            byte(UInt8(ascii: "\""))
            for octet in code {
                byte(Self.lowerHexDigits[Int(octet >> 4)])
                byte(Self.lowerHexDigits[Int(octet & 0xF)])
            }
            byte(UInt8(ascii: "\""))
        case .maskLast4:
            string(Self.maskedLast4(String(decoding: input, as: UTF8.self)))
        }
    }

    /// The bytes a transform reads: the value's text as WalBridge publishes it,
    /// without JSON quotes: a text or numeric value's text, a json value's
    /// text as Postgres sent it, bytea's base64, a date/time's ISO 8601 text,
    /// and for booleans, numbers and arrays their JSON text (as in a Kafka key).
    static func transformInput(_ value: PostgresValue) -> [UInt8] {
        var text = JSONWriter(capacity: 64)
        text.keyText(value)
        return text.bytes
    }

    /// Every character (extended grapheme cluster) but the last 4 replaced by
    /// `*`; a text of 4 characters or fewer becomes all `*`, so a short value
    /// is never published whole.
    static func maskedLast4(_ text: String) -> String {
        let count = text.count
        guard count > 4 else { return String(repeating: "*", count: count) }
        return String(repeating: "*", count: count - 4) + text.suffix(4)
    }

    static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
