/// Parsers for ISO (`DateStyle=ISO`) output of `date`, `time`, `timestamp`
/// and `timestamptz`. `infinity`, `-infinity` and BC values stay `.string`
/// exactly as written; `timestamptz` is normalised to UTC.
enum DateTimeText {
    static func date(_ text: String) throws(ValueSyntaxError) -> PostgresValue {
        if isKeptAsText(text) { return .string(text) }
        var scanner = TextScanner(text)
        let date = try parseDate(&scanner)
        try expectEnd(scanner)
        return .date(date)
    }

    static func time(_ text: String) throws(ValueSyntaxError) -> PostgresValue {
        var scanner = TextScanner(text)
        let time = try parseTime(&scanner, allowMidnight24: true)
        try expectEnd(scanner)
        return .time(time)
    }

    static func timestamp(_ text: String, withTimeZone: Bool) throws(ValueSyntaxError) -> PostgresValue {
        if isKeptAsText(text) { return .string(text) }
        var scanner = TextScanner(text)
        let date = try parseDate(&scanner)
        guard scanner.consume(UInt8(ascii: " ")) else { throw ValueSyntaxError("expected ' ' after the date") }
        let time = try parseTime(&scanner, allowMidnight24: false)
        guard withTimeZone else {
            try expectEnd(scanner)
            return .timestamp(date, time)
        }
        let offset = try parseOffset(&scanner)
        try expectEnd(scanner)
        guard let utc = toUTC(date, time, offsetSeconds: offset) else {
            // Normalising moved it before 0001-01-01 (a BC instant): keep the text.
            return .string(text)
        }
        return .timestampTZ(utc.0, utc.1)
    }

    /// `infinity`, `-infinity` and anything BC are not representable as `PostgresDate`.
    private static func isKeptAsText(_ text: String) -> Bool {
        text == "infinity" || text == "-infinity" || text.hasSuffix(" BC")
    }

    private static func parseDate(_ scanner: inout TextScanner) throws(ValueSyntaxError) -> PostgresDate {
        guard let year = scanner.digits(min: 4, max: 9),
              scanner.consume(UInt8(ascii: "-")),
              let month = scanner.digits(min: 2, max: 2),
              scanner.consume(UInt8(ascii: "-")),
              let day = scanner.digits(min: 2, max: 2)
        else { throw ValueSyntaxError("expected a date YYYY-MM-DD") }
        guard year.value >= 1 else { throw ValueSyntaxError("year out of range") }
        guard (1...12).contains(month.value) else { throw ValueSyntaxError("month out of range") }
        guard (1...CivilCalendar.daysInMonth(year: year.value, month: month.value)).contains(day.value) else {
            throw ValueSyntaxError("day out of range")
        }
        return PostgresDate(year: year.value, month: month.value, day: day.value)
    }

    /// `HH:MM:SS[.ffffff]`; `24:00:00` only for `time`.
    private static func parseTime(_ scanner: inout TextScanner, allowMidnight24: Bool) throws(ValueSyntaxError) -> PostgresTime {
        guard let hour = scanner.digits(min: 2, max: 2),
              scanner.consume(UInt8(ascii: ":")),
              let minute = scanner.digits(min: 2, max: 2),
              scanner.consume(UInt8(ascii: ":")),
              let second = scanner.digits(min: 2, max: 2)
        else { throw ValueSyntaxError("expected a time HH:MM:SS") }
        var microsecond = 0
        if scanner.consume(UInt8(ascii: ".")) {
            guard let fraction = scanner.digits(min: 1, max: 6) else {
                throw ValueSyntaxError("expected 1 to 6 fractional digits")
            }
            microsecond = fraction.value
            for _ in fraction.count..<6 { microsecond *= 10 }
        }
        guard minute.value < 60, second.value < 60 else { throw ValueSyntaxError("time field out of range") }
        let isMidnight24 = hour.value == 24 && minute.value == 0 && second.value == 0 && microsecond == 0
        guard hour.value < 24 || (allowMidnight24 && isMidnight24) else {
            throw ValueSyntaxError("hour out of range")
        }
        return PostgresTime(hour: hour.value, minute: minute.value, second: second.value, microsecond: microsecond)
    }

    /// `+HH`, `-HH:MM`, `+HH:MM:SS` → seconds east of UTC.
    private static func parseOffset(_ scanner: inout TextScanner) throws(ValueSyntaxError) -> Int {
        let sign: Int
        if scanner.consume(UInt8(ascii: "+")) {
            sign = 1
        } else if scanner.consume(UInt8(ascii: "-")) {
            sign = -1
        } else {
            throw ValueSyntaxError("expected a time zone offset")
        }
        guard let hours = scanner.digits(min: 2, max: 2) else { throw ValueSyntaxError("expected offset hours") }
        var minutes = 0
        var seconds = 0
        if scanner.consume(UInt8(ascii: ":")) {
            guard let m = scanner.digits(min: 2, max: 2) else { throw ValueSyntaxError("expected offset minutes") }
            minutes = m.value
            if scanner.consume(UInt8(ascii: ":")) {
                guard let s = scanner.digits(min: 2, max: 2) else { throw ValueSyntaxError("expected offset seconds") }
                seconds = s.value
            }
        }
        guard hours.value < 24, minutes < 60, seconds < 60 else { throw ValueSyntaxError("time zone offset out of range") }
        return sign * (hours.value * 3600 + minutes * 60 + seconds)
    }

    /// Local time at `offsetSeconds` east of UTC → UTC; nil if before year 1.
    private static func toUTC(_ date: PostgresDate, _ time: PostgresTime, offsetSeconds: Int) -> (PostgresDate, PostgresTime)? {
        var day = CivilCalendar.dayNumber(year: date.year, month: date.month, day: date.day)
        var secondOfDay = time.hour * 3600 + time.minute * 60 + time.second - offsetSeconds
        if secondOfDay < 0 {
            secondOfDay += 86_400
            day -= 1
        } else if secondOfDay >= 86_400 {
            secondOfDay -= 86_400
            day += 1
        }
        let utcDate = CivilCalendar.date(dayNumber: day)
        guard utcDate.year >= 1 else { return nil }
        return (PostgresDate(year: utcDate.year, month: utcDate.month, day: utcDate.day),
                PostgresTime(hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60,
                             second: secondOfDay % 60, microsecond: time.microsecond))
    }

    private static func expectEnd(_ scanner: TextScanner) throws(ValueSyntaxError) {
        if !scanner.isAtEnd { throw ValueSyntaxError("unexpected characters after the value") }
    }
}
