import Testing
import PostgresReplication

/// Decodes `text` as `oid` with an empty registry.
func decodeValue(_ text: String, _ oid: UInt32, registry: TypeRegistry = TypeRegistry()) throws(ValueDecodingError) -> PostgresValue {
    try PostgresValueDecoder().decode(text, typeOID: oid, registry: registry)
}

@Suite("Value decoding: scalars")
struct ScalarValueTests {
    typealias T = PostgresTypeOID

    @Test func bool() throws {
        #expect(try decodeValue("t", T.bool) == .bool(true))
        #expect(try decodeValue("f", T.bool) == .bool(false))
        for bad in ["tx", "", "true", "T", "1"] {
            #expect(throws: ValueDecodingError.self) { try decodeValue(bad, T.bool) }
        }
    }

    @Test func integers() throws {
        #expect(try decodeValue("-32768", T.int2) == .int(-32768))
        #expect(try decodeValue("2147483647", T.int4) == .int(2_147_483_647))
        #expect(try decodeValue("-9223372036854775808", T.int8) == .int(Int64.min))
        #expect(try decodeValue("9223372036854775807", T.int8) == .int(Int64.max))
        #expect(try decodeValue("4294967295", T.oid) == .int(4_294_967_295))
        for bad in ["9223372036854775808", "1.0", "", "12x", " 1", "0x10"] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.int8) }
        }
    }

    @Test func floats() throws {
        #expect(try decodeValue("1.5", T.float8) == .double(1.5))
        #expect(try decodeValue("1e+300", T.float8) == .double(1e300))
        #expect(try decodeValue("1.5e-07", T.float8) == .double(1.5e-7))
        #expect(try decodeValue("Infinity", T.float8) == .double(.infinity))
        #expect(try decodeValue("-Infinity", T.float4) == .double(-.infinity))
        // float4 is widened from its shortest text, so it keeps its decimal meaning.
        #expect(try decodeValue("1.1", T.float4) == .double(1.1))

        guard case let .double(negativeZero) = try decodeValue("-0", T.float8) else { Issue.record("not a double"); return }
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        guard case let .double(nan) = try decodeValue("NaN", T.float4) else { Issue.record("not a double"); return }
        #expect(nan.isNaN)

        for bad in ["nan", "inf", "infinity", "0x1p3", "1e", "", ".", "1.5.5", "--1", "1 "] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.float8) }
        }
    }

    @Test(arguments: [
        "0", "-12.50", "NaN", "Infinity", "-Infinity",
        "1234567890123456789012345678901234567890",
        "0.000000000000000000000000000001",
        "-99999999999999999999999999999999999999.99999999999999999999",
    ])
    func numericKeepsItsExactText(_ text: String) throws {
        #expect(try decodeValue(text, T.numeric) == .numeric(text))
    }

    @Test func numericRejectsNonNumbers() {
        for bad in ["nan", "1e5", "", "1,5", "12abc", "+-1"] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.numeric) }
        }
    }

    @Test(arguments: [T.text, T.varchar, T.name, T.char, T.uuid])
    func textTypesAreStrings(_ oid: UInt32) throws {
        for text in ["", "plain", #"q"uote"#, #"back\slash"#, "new\nline", "tab\there", "emoji 🎉👩‍👩‍👧", "a\u{0}b"] {
            #expect(try decodeValue(text, oid) == .string(text))
        }
    }

    @Test func bpcharKeepsPadding() throws {
        #expect(try decodeValue("ab   ", T.bpchar) == .string("ab   "))
        #expect(try decodeValue("6f1c6a2e-8d1b-5c3a-9e0f-1a2b3c4d5e6f", T.uuid) == .string("6f1c6a2e-8d1b-5c3a-9e0f-1a2b3c4d5e6f"))
    }

    @Test func jsonIsKeptVerbatim() throws {
        #expect(try decodeValue(#"{"a": [1, 2.50, "x"]}"#, T.json) == .json(#"{"a": [1, 2.50, "x"]}"#))
        #expect(try decodeValue(#"{"a": [1, 2.50, "x"]}"#, T.jsonb) == .json(#"{"a": [1, 2.50, "x"]}"#))
        #expect(try decodeValue("null", T.jsonb) == .json("null"))
    }

    @Test func byteaHex() throws {
        #expect(try decodeValue(#"\x0a0b"#, T.bytea) == .bytes([0x0A, 0x0B]))
        #expect(try decodeValue(#"\x"#, T.bytea) == .bytes([]))
        #expect(try decodeValue(#"\xDEADbeef"#, T.bytea) == .bytes([0xDE, 0xAD, 0xBE, 0xEF]))
        for bad in [#"\x0"#, #"\x0g"#, #"\x 0a"#] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.bytea) }
        }
    }

    @Test func byteaEscapeFormat() throws {
        // bytea_output = escape, should a server be configured that way.
        #expect(try decodeValue(#"ab\\c\000\377"#, T.bytea) == .bytes([0x61, 0x62, 0x5C, 0x63, 0x00, 0xFF]))
        #expect(try decodeValue("", T.bytea) == .bytes([]))
        for bad in [#"\4"#, #"\400"#, #"\08"#, "\\"] {
            #expect(throws: ValueDecodingError.self, "\(bad)") { try decodeValue(bad, T.bytea) }
        }
    }

    @Test(arguments: [
        (T.interval, "P1Y2M3DT4H5M6.5S"), (T.timetz, "12:00:00+05:30"), (T.money, "$12.50"),
        (3904, "[1,10)"), (T.bit, "101"), (T.varbit, "1"), (T.xml, "<a/>"), (T.inet, "10.0.0.1/8"),
        (T.cidr, "10.0.0.0/8"), (T.macaddr, "08:00:2b:01:02:03"), (T.point, "(1,2)"), (3614, "'a':1"),
        (999_999, "anything at all"),
    ] as [(UInt32, String)])
    func otherTypesAreTheirTextForm(_ oid: UInt32, _ text: String) throws {
        #expect(try decodeValue(text, oid) == .string(text))
    }

    @Test func userTypesUseTheRegistry() throws {
        var registry = TypeRegistry()
        registry.register(TypeMessage(oid: 16385, namespace: "public", name: "mood"))
        registry.register(TypeMessage(oid: 16384, namespace: "public", name: "_mood"))
        #expect(try decodeValue("happy", 16385, registry: registry) == .string("happy"))
        #expect(try decodeValue("{sad,happy,NULL}", 16384, registry: registry) == .array([.string("sad"), .string("happy"), .null]))
        // Unregistered, the array text is just text.
        #expect(try decodeValue("{sad}", 16384) == .string("{sad}"))
        #expect(registry.name(of: 16384) == "_mood")
        #expect(registry.name(of: T.int4) == "int4")
        #expect(registry.name(of: 424_242) == nil)
        #expect(registry[16385]?.namespace == "public")
        #expect(registry.count == 2)
    }

    @Test func decodesFromTupleBytes() throws {
        let message = Array("xx-17".utf8)
        #expect(try PostgresValueDecoder().decode(message[2...], typeOID: T.int4, registry: TypeRegistry()) == .int(-17))
        // Invalid UTF-8 in a text column is replaced, never fatal.
        #expect(try PostgresValueDecoder().decode([0x61, 0xFF][...], typeOID: T.text, registry: TypeRegistry()) == .string("a\u{FFFD}"))
    }
}

@Suite("Value decoding: errors")
struct ValueDecodingErrorTests {
    @Test func errorNamesTypeAndValue() {
        let error = #expect(throws: ValueDecodingError.self) { try decodeValue("tx", PostgresTypeOID.bool) }
        #expect(error?.typeOID == 16)
        #expect(error?.typeName == "bool")
        #expect(error?.text == "tx")
        #expect(error?.textTruncated == false)
        #expect(error?.description == "cannot decode bool (oid 16) value 'tx': expected 't' or 'f'")
    }

    @Test func errorTextIsCutTo40Characters() {
        let long = "2026-13-01" + String(repeating: "é", count: 100) + "SECRET"
        let error = #expect(throws: ValueDecodingError.self) { try decodeValue(long, PostgresTypeOID.date) }
        #expect(error?.text.count == 40)
        #expect(error?.textTruncated == true)
        #expect(error?.description.contains("SECRET") == false)
        #expect(error?.description.hasSuffix("…': month out of range") == true)
    }

    @Test func controlCharactersAreEscapedInTheMessage() {
        let error = #expect(throws: ValueDecodingError.self) { try decodeValue("1\n2", PostgresTypeOID.int4) }
        #expect(error?.description == #"cannot decode int4 (oid 23) value '1\n2': not a 64-bit integer"#)
    }

    @Test func registeredNameIsUsedForUserArrays() {
        var registry = TypeRegistry()
        registry.register(TypeMessage(oid: 20000, namespace: "app", name: "_tag"))
        let error = #expect(throws: ValueDecodingError.self) { try decodeValue("{a", 20000, registry: registry) }
        #expect(error?.typeName == "_tag")
        #expect(error?.reason == "unterminated array")
    }
}
