import Testing
@testable import PostgresReplication

@Suite("Internal helpers")
struct InternalHelperTests {
    @Test func byteReaderReadsBigEndianAndChecksBounds() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xFF, 0xFE, 0x61, 0x00]
        try bytes.withUnsafeBytes { (buffer) throws in
            var reader = ByteReader(buffer, context: "test message")
            #expect(try reader.readUInt8() == 0x01)
            #expect(try reader.readUInt16() == 0x0203)
            #expect(try reader.readUInt32() == 0x0405_0607)
            #expect(try reader.readUInt16() == 0x0809)
            #expect(try reader.readInt16() == -2)
            #expect(try reader.readCString() == "a")
            #expect(reader.isAtEnd)
            let error = #expect(throws: PgOutputDecodingError.self) { try reader.readUInt64() }
            #expect(error?.code == .truncated(needed: 8, available: 0))
            #expect(error?.offset == 13)
            #expect(error?.context == "test message")
        }
        try ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE] as [UInt8]).withUnsafeBytes { (buffer) throws in
            var reader = ByteReader(buffer, context: "t")
            #expect(try reader.readInt64() == -2)
        }
    }

    @Test func civilCalendarRoundTripsEveryDay() {
        // 0001-01-01 through 2400-12-31, walking forward one day at a time.
        var (year, month, day) = (1, 1, 1)
        let first = CivilCalendar.dayNumber(year: 1, month: 1, day: 1)
        #expect(first == -719_162)
        #expect(CivilCalendar.dayNumber(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilCalendar.dayNumber(year: 2000, month: 3, day: 1) == 11_017)
        var number = first
        var mismatches = 0
        while year <= 2400 {
            if CivilCalendar.dayNumber(year: year, month: month, day: day) != number { mismatches += 1 }
            let back = CivilCalendar.date(dayNumber: number)
            if back.year != year || back.month != month || back.day != day { mismatches += 1 }
            number += 1
            day += 1
            if day > CivilCalendar.daysInMonth(year: year, month: month) {
                day = 1
                month += 1
                if month > 12 { month = 1; year += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(CivilCalendar.isLeapYear(2000) && CivilCalendar.isLeapYear(2024))
        #expect(!CivilCalendar.isLeapYear(1900) && !CivilCalendar.isLeapYear(2023))
    }
}
