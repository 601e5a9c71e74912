import Testing
import PostgresReplication

/// The stream's fast paths (issue 7): a change message's `TupleData` is its
/// wire bytes, and values are decoded from borrowed bytes. They must agree
/// with the general paths (`TupleData(columns:)`, decoding a `String`).
@Suite("Decoding from borrowed bytes")
struct BorrowedBytesDecodingTests {
    typealias T = PostgresTypeOID

    /// Decodes `text` both ways: from its bytes, and as a `String`.
    private func bothWays(_ text: String, _ oid: UInt32) -> (Result<PostgresValue, ValueDecodingError>, Result<PostgresValue, ValueDecodingError>) {
        let decoder = PostgresValueDecoder()
        let registry = TypeRegistry()
        let fromBytes = Array(text.utf8).withUnsafeBytes { bytes in
            Result { () throws(ValueDecodingError) in try decoder.decode(bytes, typeOID: oid, registry: registry) }
        }
        let fromString = Result { () throws(ValueDecodingError) in try decoder.decode(text, typeOID: oid, registry: registry) }
        return (fromBytes, fromString)
    }

    @Test("integers from bytes: the same values and the same refusals as from a String", arguments: [
        "0", "7", "-7", "+7", "00042", "-32768", "2147483647", "-9223372036854775808", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999", "", "-", "+", "1.0", "12x", " 1", "1 ", "0x10", "--1",
    ])
    func integers(text: String) {
        let (fromBytes, fromString) = bothWays(text, T.int8)
        switch (fromBytes, fromString) {
        case let (.success(a), .success(b)): #expect(a == b, "\(text)")
        case (.failure, .failure): break
        default: Issue.record("'\(text)': from bytes \(fromBytes), from a String \(fromString)")
        }
    }

    @Test("text, numeric, dates and arrays from bytes equal the String path")
    func otherTypes() throws {
        for (text, oid) in [("héllo \"x\"", T.text), ("", T.varchar), ("12.50", T.numeric), ("2026-11-23", T.date),
                            ("2026-11-23 05:12:00.123456+00", T.timestamptz), ("{1,2,NULL}", UInt32(1007)), ("t", T.bool)] {
            let (fromBytes, fromString) = bothWays(text, oid)
            #expect(try fromBytes.get() == fromString.get(), "\(text)")
        }
    }

    @Test("a decoded tuple equals the same columns given as an array, and assembles the same row")
    func wireTupleAgreesWithColumns() throws {
        let columns: [TupleColumn] = [.text(Array("42".utf8)[...]), .null, .unchangedToast, .text(Array("ada@example.com".utf8)[...])]
        let bytes = Fixture("I").uint32(1).char("N")
            .tuple([.text("42"), .null, .unchangedToast, .text("ada@example.com")]).bytes
        guard case let .insert(_, decoded) = try PgOutputDecoder().decode(bytes) else {
            Issue.record("not an insert"); return
        }
        let given = TupleData(columns: columns)
        #expect(decoded.count == 4)
        #expect(decoded.columns == columns)
        #expect(decoded == given)
        #expect(decoded.hashValue == given.hashValue)

        let relation = RelationMessage(id: 1, namespace: "public", name: "users", replicaIdentity: .default, columns: [
            .init(name: "id", typeOID: T.int8, typeModifier: -1, isKey: true),
            .init(name: "nickname", typeOID: T.text, typeModifier: -1, isKey: false),
            .init(name: "bio", typeOID: T.text, typeModifier: -1, isKey: false),
            .init(name: "email", typeOID: T.text, typeModifier: -1, isKey: false),
        ])
        func row(_ tuple: TupleData) throws -> Row? {
            var assembler = TransactionAssembler()
            _ = try assembler.process(.relation(relation))
            _ = try assembler.process(.begin(finalLSN: LSN(0x100), commitTimeMicros: 0, xid: 1))
            guard case let .change(change) = try assembler.process(.insert(relationID: 1, new: tuple)) else { return nil }
            return change.new
        }
        let expected: Row = [.value(.int(42)), .value(.null), .unchangedToast, .value(.string("ada@example.com"))]
        #expect(try row(decoded) == expected)
        #expect(try row(given) == expected)
    }
}
