@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("JSON encoding of Postgres values")
struct ValueEncodingTests {
    func json(_ value: PostgresValue) -> String {
        var writer = JSONWriter()
        writer.value(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func keyText(_ value: PostgresValue) -> String {
        var writer = JSONWriter()
        writer.keyText(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test func scalars() {
        #expect(json(.null) == "null")
        #expect(json(.bool(true)) == "true")
        #expect(json(.bool(false)) == "false")
        #expect(json(.int(0)) == "0")
        #expect(json(.int(42)) == "42")
        #expect(json(.int(-7)) == "-7")
        #expect(json(.int(Int64.max)) == "9223372036854775807")
        #expect(json(.int(Int64.min)) == "-9223372036854775808")
        #expect(json(.numeric("12345678901234567890.000000000001")) == "\"12345678901234567890.000000000001\"")
        #expect(json(.numeric("NaN")) == "\"NaN\"")
        #expect(json(.string("ada")) == "\"ada\"")
        #expect(json(.string("Ünïcødé ✓ 😀")) == "\"Ünïcødé ✓ 😀\"")
        #expect(json(.json("{\"a\": [1, 2]}")) == "{\"a\": [1, 2]}")
        #expect(json(.bytes([0xDE, 0xAD, 0xBE, 0xEF])) == "\"3q2+7w==\"")
        #expect(json(.bytes([])) == "\"\"")
    }

    @Test("every control character is escaped", arguments: 0..<0x20)
    func controlCharacters(code: Int) {
        let text = "a" + String(UnicodeScalar(UInt8(code))) + "b"
        let expected: String = switch code {
        case 0x08: "\\b"
        case 0x09: "\\t"
        case 0x0A: "\\n"
        case 0x0C: "\\f"
        case 0x0D: "\\r"
        default: String(format: "\\u%04x", code)
        }
        #expect(json(.string(text)) == "\"a\(expected)b\"")
        let parsed = try? JSONSerialization.jsonObject(with: Data(json(.string(text)).utf8), options: .fragmentsAllowed) as? String
        #expect(parsed == text)
    }

    @Test func quotesAndBackslashes() {
        #expect(json(.string("say \"hi\" \\ bye")) == #""say \"hi\" \\ bye""#)
        #expect(json(.string("/")) == "\"/\"")
        #expect(json(.string("\u{7F}\u{2028}")) == "\"\u{7F}\u{2028}\"")
    }

    @Test func doubles() {
        #expect(json(.double(1.5)) == "1.5")
        #expect(json(.double(1)) == "1.0")
        #expect(json(.double(-0.0)) == "-0.0")
        #expect(json(.double(0.1)) == "0.1")
        #expect(json(.double(1e300)) == "1e+300")
        #expect(json(.double(.leastNonzeroMagnitude)) == "5e-324")
        #expect(json(.double(.greatestFiniteMagnitude)) == "1.7976931348623157e+308")
        #expect(json(.double(.nan)) == "\"NaN\"")
        #expect(json(.double(.infinity)) == "\"Infinity\"")
        #expect(json(.double(-.infinity)) == "\"-Infinity\"")
        for value in [1.5, -0.0, 0.1, 1e300, .leastNonzeroMagnitude, 123456789.125, -2.5e-10] {
            let parsed = try? JSONSerialization.jsonObject(with: Data(json(.double(value)).utf8), options: .fragmentsAllowed) as? Double
            #expect(parsed == value, "\(value) does not round-trip through JSON")
        }
    }

    @Test func datesAndTimes() {
        let date = PostgresDate(year: 2026, month: 11, day: 3)
        let time = PostgresTime(hour: 5, minute: 2, second: 0, microsecond: 123)
        #expect(json(.date(date)) == "\"2026-11-03\"")
        #expect(json(.date(PostgresDate(year: 33, month: 1, day: 1))) == "\"0033-01-01\"")
        #expect(json(.date(PostgresDate(year: 12345, month: 6, day: 7))) == "\"12345-06-07\"")
        #expect(json(.time(time)) == "\"05:02:00.000123\"")
        #expect(json(.time(PostgresTime(hour: 24, minute: 0, second: 0, microsecond: 0))) == "\"24:00:00.000000\"")
        #expect(json(.timestamp(date, time)) == "\"2026-11-03T05:02:00.000123\"")
        #expect(json(.timestampTZ(date, time)) == "\"2026-11-03T05:02:00.000123Z\"")
    }

    @Test func arrays() {
        #expect(json(.array([])) == "[]")
        #expect(json(.array([.int(1), .null, .int(3)])) == "[1,null,3]")
        #expect(json(.array([.array([.string("a"), .string("b")]), .array([.string("c\""), .null])])) == #"[["a","b"],["c\"",null]]"#)
        #expect(json(.array([.double(.nan), .bool(true), .date(PostgresDate(year: 2020, month: 2, day: 29))])) == #"["NaN",true,"2020-02-29"]"#)
    }

    @Test func rfc3339() {
        func text(_ micros: Int64) -> String {
            var writer = JSONWriter()
            writer.rfc3339(unixMicros: micros)
            return String(decoding: writer.bytes, as: UTF8.self)
        }
        #expect(text(0) == "1970-01-01T00:00:00.000000Z")
        #expect(text(1_795_410_720_123_456) == "2026-11-23T05:12:00.123456Z")
        #expect(text(951_782_400_000_001) == "2000-02-29T00:00:00.000001Z")
        #expect(text(-1) == "1969-12-31T23:59:59.999999Z")
        #expect(text(253_402_300_799_999_999) == "9999-12-31T23:59:59.999999Z")
    }

    @Test func keyTexts() {
        #expect(keyText(.int(42)) == "42")
        #expect(keyText(.string("ada")) == "ada")
        #expect(keyText(.string("a\"b")) == "a\"b")
        #expect(keyText(.numeric("1.50")) == "1.50")
        #expect(keyText(.date(PostgresDate(year: 2026, month: 1, day: 2))) == "2026-01-02")
        #expect(keyText(.bytes([1, 2, 3])) == "AQID")
        #expect(keyText(.bool(true)) == "true")
        #expect(keyText(.double(.nan)) == "NaN")
    }

    @Test func lsnText() {
        for value: UInt64 in [0, 0x16B3748, 0x1_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xA_0000_00F0] {
            var writer = JSONWriter()
            writer.lsn(LSN(value))
            #expect(String(decoding: writer.bytes, as: UTF8.self) == LSN(value).description)
        }
    }
}
