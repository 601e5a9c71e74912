import PostgresReplication

/// The JSON encoding of `PostgresValue` (docs/events.md, "Value encoding").
///
/// Dates and times always carry six fraction digits (`05:12:00.000000`), the
/// same as `occurredAt`, so every value of a column has one fixed shape.
extension JSONWriter {
    /// Appends the JSON encoding of a value.
    public mutating func value(_ value: PostgresValue) {
        switch value {
        case .null:
            raw(Self.nullLiteral)
        case .bool(let flag):
            raw(flag ? Self.trueLiteral : Self.falseLiteral)
        case .int(let number):
            integer(number)
        case .double(let number):
            double(number)
        case .numeric(let text), .string(let text):
            string(text)
        case .json(let text):
            raw(text)
        case .bytes(let data):
            byte(UInt8(ascii: "\""))
            Base64.encode(data, into: &bytes)
            byte(UInt8(ascii: "\""))
        case .date(let date):
            byte(UInt8(ascii: "\""))
            self.date(date)
            byte(UInt8(ascii: "\""))
        case .time(let time):
            byte(UInt8(ascii: "\""))
            self.time(time)
            byte(UInt8(ascii: "\""))
        case .timestamp(let date, let time):
            byte(UInt8(ascii: "\""))
            self.date(date)
            byte(UInt8(ascii: "T"))
            self.time(time)
            byte(UInt8(ascii: "\""))
        case .timestampTZ(let date, let time):
            byte(UInt8(ascii: "\""))
            self.date(date)
            byte(UInt8(ascii: "T"))
            self.time(time)
            byte(UInt8(ascii: "Z"))
            byte(UInt8(ascii: "\""))
        case .array(let elements):
            byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                self.value(element)
            }
            byte(UInt8(ascii: "]"))
        }
    }

    /// Appends a value as the text of a Kafka key: strings, numeric text and
    /// dates without JSON quotes (`ada`, `42`, `2026-11-23`); arrays and JSON
    /// values as their JSON text.
    public mutating func keyText(_ value: PostgresValue) {
        switch value {
        case .string(let text), .numeric(let text), .json(let text):
            raw(text)
        case .double(let number) where !number.isFinite:
            doubleNonFiniteText(number)
        case .bytes(let data):
            Base64.encode(data, into: &bytes)
        case .date(let date):
            self.date(date)
        case .time(let time):
            self.time(time)
        case .timestamp(let date, let time):
            self.date(date); byte(UInt8(ascii: "T")); self.time(time)
        case .timestampTZ(let date, let time):
            self.date(date); byte(UInt8(ascii: "T")); self.time(time); byte(UInt8(ascii: "Z"))
        default:
            self.value(value)
        }
    }

    /// `YYYY-MM-DD` (years above 9999 in full).
    public mutating func date(_ date: PostgresDate) {
        guard (0...9999).contains(date.year), (0...99).contains(date.month), (0...99).contains(date.day) else {
            padded(date.year, width: 4)
            byte(UInt8(ascii: "-"))
            padded(date.month, width: 2)
            byte(UInt8(ascii: "-"))
            padded(date.day, width: 2)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { out in
            let p = out.baseAddress!
            Self.fixedDigits(date.year, width: 4, at: p)
            p[4] = UInt8(ascii: "-")
            Self.fixedDigits(date.month, width: 2, at: p + 5)
            p[7] = UInt8(ascii: "-")
            Self.fixedDigits(date.day, width: 2, at: p + 8)
            bytes.append(contentsOf: UnsafeBufferPointer(out))
        }
    }

    /// `HH:MM:SS.ffffff`.
    public mutating func time(_ time: PostgresTime) {
        guard (0...99).contains(time.hour), (0...99).contains(time.minute), (0...99).contains(time.second),
              (0...999_999).contains(time.microsecond)
        else {
            padded(time.hour, width: 2)
            byte(UInt8(ascii: ":"))
            padded(time.minute, width: 2)
            byte(UInt8(ascii: ":"))
            padded(time.second, width: 2)
            byte(UInt8(ascii: "."))
            padded(time.microsecond, width: 6)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 15) { out in
            let p = out.baseAddress!
            Self.fixedDigits(time.hour, width: 2, at: p)
            p[2] = UInt8(ascii: ":")
            Self.fixedDigits(time.minute, width: 2, at: p + 3)
            p[5] = UInt8(ascii: ":")
            Self.fixedDigits(time.second, width: 2, at: p + 6)
            p[8] = UInt8(ascii: ".")
            Self.fixedDigits(time.microsecond, width: 6, at: p + 9)
            bytes.append(contentsOf: UnsafeBufferPointer(out))
        }
    }

    /// A Unix time in microseconds as RFC 3339 UTC: `2026-11-23T05:12:00.123456Z`.
    public mutating func rfc3339(unixMicros: Int64) {
        let (date, time) = CivilTime.split(unixMicros: unixMicros)
        self.date(date)
        byte(UInt8(ascii: "T"))
        self.time(time)
        byte(UInt8(ascii: "Z"))
    }

    static let nullLiteral: [UInt8] = Array("null".utf8)
    static let trueLiteral: [UInt8] = Array("true".utf8)
    static let falseLiteral: [UInt8] = Array("false".utf8)
}

/// Unix time ↔ proleptic Gregorian calendar date and time of day, in UTC.
enum CivilTime {
    static func split(unixMicros: Int64) -> (PostgresDate, PostgresTime) {
        let microsPerDay: Int64 = 86_400_000_000
        var days = unixMicros / microsPerDay
        var remainder = unixMicros % microsPerDay
        if remainder < 0 { remainder += microsPerDay; days -= 1 }
        let seconds = Int(remainder / 1_000_000)
        let time = PostgresTime(hour: seconds / 3600, minute: seconds / 60 % 60, second: seconds % 60,
                                microsecond: Int(remainder % 1_000_000))
        return (date(daysSinceEpoch: Int(days)), time)
    }

    static func date(daysSinceEpoch: Int) -> PostgresDate {
        let (year, month, day) = CivilCalendar.date(dayNumber: daysSinceEpoch)
        return PostgresDate(year: year, month: month, day: day)
    }
}
