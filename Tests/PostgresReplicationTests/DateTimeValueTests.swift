import Testing
import PostgresReplication

private func date(_ y: Int, _ m: Int, _ d: Int) -> PostgresDate { PostgresDate(year: y, month: m, day: d) }
private func time(_ h: Int, _ m: Int, _ s: Int, _ us: Int = 0) -> PostgresTime {
    PostgresTime(hour: h, minute: m, second: s, microsecond: us)
}

@Suite("Value decoding: dates and times")
struct DateTimeValueTests {
    typealias T = PostgresTypeOID

    @Test func dates() throws {
        #expect(try decodeValue("2026-11-23", T.date) == .date(date(2026, 11, 23)))
        #expect(try decodeValue("0001-01-01", T.date) == .date(date(1, 1, 1)))
        #expect(try decodeValue("2024-02-29", T.date) == .date(date(2024, 2, 29)))
        #expect(try decodeValue("2000-02-29", T.date) == .date(date(2000, 2, 29)))
        #expect(try decodeValue("12345-01-01", T.date) == .date(date(12345, 1, 1)))
        #expect(try decodeValue("5874897-12-31", T.date) == .date(date(5_874_897, 12, 31)))
    }

    @Test(arguments: ["infinity", "-infinity", "0044-03-15 BC", "4713-01-01 BC"])
    func datesKeptAsText(_ text: String) throws {
        #expect(try decodeValue(text, T.date) == .string(text))
    }

    @Test(arguments: ["2023-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-00",
                      "0000-01-01", "26-01-01", "2026-1-01", "2026/01/01", "2026-01-01x", "", "Infinity", "2026-01-01 AD"])
    func badDates(_ text: String) {
        #expect(throws: ValueDecodingError.self) { try decodeValue(text, T.date) }
    }

    @Test func times() throws {
        #expect(try decodeValue("05:12:00.123456", T.time) == .time(time(5, 12, 0, 123_456)))
        #expect(try decodeValue("05:12:00", T.time) == .time(time(5, 12, 0)))
        #expect(try decodeValue("23:59:59.5", T.time) == .time(time(23, 59, 59, 500_000)))
        #expect(try decodeValue("00:00:00.000001", T.time) == .time(time(0, 0, 0, 1)))
        #expect(try decodeValue("24:00:00", T.time) == .time(time(24, 0, 0)))
    }

    @Test(arguments: ["24:00:01", "25:00:00", "12:60:00", "12:00:60", "12:00", "12:00:00.", "12:00:00.1234567",
                      "12:00:00+00", "1:00:00", ""])
    func badTimes(_ text: String) {
        #expect(throws: ValueDecodingError.self) { try decodeValue(text, T.time) }
    }

    @Test func timestamps() throws {
        #expect(try decodeValue("2026-11-23 05:12:00.123456", T.timestamp) == .timestamp(date(2026, 11, 23), time(5, 12, 0, 123_456)))
        #expect(try decodeValue("2026-11-23 05:12:00", T.timestamp) == .timestamp(date(2026, 11, 23), time(5, 12, 0)))
        #expect(try decodeValue("10000-01-01 00:00:00", T.timestamp) == .timestamp(date(10000, 1, 1), time(0, 0, 0)))
        for text in ["infinity", "-infinity", "0044-03-15 12:00:00 BC"] {
            #expect(try decodeValue(text, T.timestamp) == .string(text))
        }
        for bad in ["2026-11-23T05:12:00", "2026-11-23 05:12:00+00", "2026-11-23 24:00:00", "2026-11-23", "2026-11-23 "] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.timestamp) }
        }
    }

    @Test func timestamptzInUTC() throws {
        #expect(try decodeValue("2026-11-23 05:12:00.123456+00", T.timestamptz) == .timestampTZ(date(2026, 11, 23), time(5, 12, 0, 123_456)))
        #expect(try decodeValue("2026-11-23 05:12:00+00:00:00", T.timestamptz) == .timestampTZ(date(2026, 11, 23), time(5, 12, 0)))
    }

    @Test func timestamptzOffsetsAreNormalisedToUTC() throws {
        // +05:30 just after midnight on New Year's Day: back into the previous day, month and year.
        #expect(try decodeValue("2026-01-01 00:10:00.5+05:30", T.timestamptz) == .timestampTZ(date(2025, 12, 31), time(18, 40, 0, 500_000)))
        // Negative offsets move forward, across a leap day.
        #expect(try decodeValue("2024-02-28 20:00:00-08", T.timestamptz) == .timestampTZ(date(2024, 2, 29), time(4, 0, 0)))
        #expect(try decodeValue("2023-02-28 20:00:00-08", T.timestamptz) == .timestampTZ(date(2023, 3, 1), time(4, 0, 0)))
        #expect(try decodeValue("2025-12-31 20:30:00-03:30", T.timestamptz) == .timestampTZ(date(2026, 1, 1), time(0, 0, 0)))
        // Local mean time offsets have seconds (Asia/Kolkata in 1900).
        #expect(try decodeValue("1900-01-01 05:21:10+05:21:10", T.timestamptz) == .timestampTZ(date(1900, 1, 1), time(0, 0, 0)))
        #expect(try decodeValue("1900-01-01 00:00:00+05:21:10", T.timestamptz) == .timestampTZ(date(1899, 12, 31), time(18, 38, 50)))
        #expect(try decodeValue("9999-12-31 23:59:59.999999-01", T.timestamptz) == .timestampTZ(date(10000, 1, 1), time(0, 59, 59, 999_999)))
    }

    @Test func timestamptzKeptAsText() throws {
        for text in ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"] {
            #expect(try decodeValue(text, T.timestamptz) == .string(text))
        }
        // Normalising would land before 0001-01-01: kept exactly as written.
        #expect(try decodeValue("0001-01-01 01:00:00+05", T.timestamptz) == .string("0001-01-01 01:00:00+05"))
    }

    @Test(arguments: ["2026-11-23 05:12:00", "2026-11-23 05:12:00+", "2026-11-23 05:12:00+5", "2026-11-23 05:12:00+05:3",
                      "2026-11-23 05:12:00+05:60", "2026-11-23 05:12:00+24", "2026-11-23 05:12:00 +00", "2026-11-23 05:12:00Z",
                      "2026-11-23 05:12:00+00:00:00:00"])
    func badTimestamptz(_ text: String) {
        #expect(throws: ValueDecodingError.self) { try decodeValue(text, T.timestamptz) }
    }
}
