import Testing
import PostgresReplication

@Suite("Value decoding: arrays")
struct ArrayValueTests {
    typealias T = PostgresTypeOID

    @Test func integersWithNull() throws {
        #expect(try decodeValue("{1,2,NULL}", T.int4Array) == .array([.int(1), .int(2), .null]))
        #expect(try decodeValue("{-1,null,Null}", T.int8Array) == .array([.int(-1), .null, .null]))
    }

    @Test func quotedTextElements() throws {
        #expect(try decodeValue(#"{"a b","q\"uote","back\\slash",NULL,"NULL"}"#, T.textArray)
            == .array([.string("a b"), .string(#"q"uote"#), .string(#"back\slash"#), .null, .string("NULL")]))
        // As captured from Postgres: empty, blank, braces, non-ASCII.
        #expect(try decodeValue(#"{"a\\b","x y",""," ","NULL",NULL,"{}",é}"#, T.textArray)
            == .array([.string(#"a\b"#), .string("x y"), .string(""), .string(" "), .string("NULL"), .null, .string("{}"), .string("é")]))
        #expect(try decodeValue("{\"line\nbreak\",🎉,\"with,comma\"}", T.varcharArray)
            == .array([.string("line\nbreak"), .string("🎉"), .string("with,comma")]))
        // An escaped unquoted NULL is text.
        #expect(try decodeValue(#"{\NULL}"#, T.textArray) == .array([.string("NULL")]))
    }

    @Test func nestedAndEmpty() throws {
        #expect(try decodeValue("{{1,2},{3,4}}", T.int2Array) == .array([.array([.int(1), .int(2)]), .array([.int(3), .int(4)])]))
        #expect(try decodeValue("{{{1}},{{2}}}", T.int4Array) == .array([.array([.array([.int(1)])]), .array([.array([.int(2)])])]))
        #expect(try decodeValue("{}", T.textArray) == .array([]))
        #expect(try decodeValue(#"{{"a",NULL},{"c","d"}}"#, T.textArray)
            == .array([.array([.string("a"), .null]), .array([.string("c"), .string("d")])]))
    }

    @Test func boundsDecorationIsDropped() throws {
        #expect(try decodeValue("[0:1]={1,2}", T.int4Array) == .array([.int(1), .int(2)]))
        #expect(try decodeValue("[-2:-1][1:2]={{1,2},{3,4}}", T.int4Array)
            == .array([.array([.int(1), .int(2)]), .array([.int(3), .int(4)])]))
    }

    @Test func elementsUseTheElementDecoder() throws {
        #expect(try decodeValue("{t,f,NULL}", T.boolArray) == .array([.bool(true), .bool(false), .null]))
        #expect(try decodeValue("{1.5,Infinity}", T.float8Array) == .array([.double(1.5), .double(.infinity)]))
        #expect(try decodeValue("{NaN,1.000,-Infinity}", T.numericArray) == .array([.numeric("NaN"), .numeric("1.000"), .numeric("-Infinity")]))
        #expect(try decodeValue(#"{"\\x0a0b",NULL}"#, T.byteaArray) == .array([.bytes([0x0A, 0x0B]), .null]))
        #expect(try decodeValue("{2026-11-23,infinity}", T.dateArray)
            == .array([.date(PostgresDate(year: 2026, month: 11, day: 23)), .string("infinity")]))
        #expect(try decodeValue(#"{"2026-01-01 00:10:00+05:30"}"#, T.timestamptzArray)
            == .array([.timestampTZ(PostgresDate(year: 2025, month: 12, day: 31), PostgresTime(hour: 18, minute: 40, second: 0, microsecond: 0))]))
        #expect(try decodeValue(#"{"2026-11-23 05:12:00"}"#, T.timestampArray)
            == .array([.timestamp(PostgresDate(year: 2026, month: 11, day: 23), PostgresTime(hour: 5, minute: 12, second: 0, microsecond: 0))]))
        #expect(try decodeValue("{05:12:00.5}", T.timeArray) == .array([.time(PostgresTime(hour: 5, minute: 12, second: 0, microsecond: 500_000))]))
        #expect(try decodeValue(#"{"{\"a\": 1}",null}"#, T.jsonbArray) == .array([.json(#"{"a": 1}"#), .null]))
        #expect(try decodeValue("{6f1c6a2e-8d1b-5c3a-9e0f-1a2b3c4d5e6f}", T.uuidArray) == .array([.string("6f1c6a2e-8d1b-5c3a-9e0f-1a2b3c4d5e6f")]))
        #expect(try decodeValue(#"{"ab  ",c}"#, T.bpcharArray) == .array([.string("ab  "), .string("c")]))
        #expect(try decodeValue("{P1D,PT1H}", T.intervalArray) == .array([.string("P1D"), .string("PT1H")]))
        #expect(try decodeValue("{10.0.0.1/8}", 1041) == .array([.string("10.0.0.1/8")]))
        #expect(try decodeValue(#"{"$1.00"}"#, 791) == .array([.string("$1.00")]))
    }

    @Test func boxArraysUseSemicolons() throws {
        #expect(try decodeValue("{(1,1),(0,0);(2,2),(1,1)}", T.boxArray) == .array([.string("(1,1),(0,0)"), .string("(2,2),(1,1)")]))
    }

    @Test func whitespaceAroundElementsIsIgnored() throws {
        #expect(try decodeValue(" { 1 , 2 } ", T.int4Array) == .array([.int(1), .int(2)]))
        #expect(try decodeValue("{ a b }", T.textArray) == .array([.string("a b")]))
    }

    @Test(arguments: ["", "1,2", "{1,2", "{1,,2}", "{1,2}}", "{1,2}x", "{\"abc}", "{a\"b}", "{1}{2}", "[1:2{1,2}",
                      "[a]={1}", "{,}", "{1 2}", "{{{{{{{1}}}}}}}", "{x}", "{1,2.5}", "{\\"])
    func malformedArraysThrow(_ text: String) {
        #expect(throws: ValueDecodingError.self) { try decodeValue(text, T.int4Array) }
    }

    @Test func sixDimensionsAreAllowed() throws {
        #expect(try decodeValue("{{{{{{1}}}}}}", T.int4Array) == .array([.array([.array([.array([.array([.array([.int(1)])])])])])]))
    }

    @Test func badElementReportsTheArrayType() {
        let error = #expect(throws: ValueDecodingError.self) { try decodeValue("{t,x}", T.boolArray) }
        #expect(error?.typeName == "_bool")
        #expect(error?.reason == "expected 't' or 'f'")
    }
}
