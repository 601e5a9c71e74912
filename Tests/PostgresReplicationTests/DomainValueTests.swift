import PostgresReplication
import Testing

@Suite("Domains decode as their base type")
struct DomainValueTests {
    typealias T = PostgresTypeOID
    // OIDs a database would give user types.
    static let posint: UInt32 = 16_546
    static let posintArray: UInt32 = 16_545
    static let stamp: UInt32 = 16_600
    static let doc: UInt32 = 16_610
    static let mood: UInt32 = 16_620

    let decoder = PostgresValueDecoder(baseTypes: [
        posint: T.int4, posintArray: T.int4Array, stamp: T.timestamptz, doc: T.jsonb,
    ])

    @Test func domainsUseTheirBaseTypesTextFormat() throws {
        let registry = TypeRegistry()
        #expect(try decoder.decode("42", typeOID: Self.posint, registry: registry) == .int(42))
        #expect(try decoder.decode("{1,NULL,3}", typeOID: Self.posintArray, registry: registry) == .array([.int(1), .null, .int(3)]))
        #expect(try decoder.decode("2026-11-23 06:12:00.5+01", typeOID: Self.stamp, registry: registry)
                == .timestampTZ(PostgresDate(year: 2026, month: 11, day: 23), PostgresTime(hour: 5, minute: 12, second: 0, microsecond: 500_000)))
        #expect(try decoder.decode(#"{"a": 1}"#, typeOID: Self.doc, registry: registry) == .json(#"{"a": 1}"#))
        // A type the map does not name (an enum) keeps its text.
        #expect(try decoder.decode("happy", typeOID: Self.mood, registry: registry) == .string("happy"))
        #expect(decoder.resolvedType(Self.posint) == T.int4)
        #expect(decoder.resolvedType(T.text) == T.text)
    }

    @Test func withoutTheMapADomainStaysText() throws {
        #expect(try PostgresValueDecoder().decode("42", typeOID: Self.posint, registry: TypeRegistry()) == .string("42"))
    }

    @Test func aBadValueNamesTheDomainNotTheBase() throws {
        do {
            _ = try decoder.decode("forty-two", typeOID: Self.posint, registry: TypeRegistry())
            Issue.record("must fail")
        } catch {
            #expect(error.typeOID == Self.posint)
            #expect(error.description.contains("forty-two"))
        }
    }
}
