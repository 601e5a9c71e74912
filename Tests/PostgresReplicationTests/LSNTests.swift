import Foundation
import Testing
import PostgresReplication

@Suite("LSN")
struct LSNTests {
    @Test func parsesAndFormatsPostgresForm() throws {
        let lsn = try #require(LSN("0/16B3748"))
        #expect(lsn.value == 0x16B3748)
        #expect(lsn.description == "0/16B3748")
        #expect(LSN("16/B374D848")?.value == 0x16_B374_D848)
        #expect(LSN(0x16_B374_D848).description == "16/B374D848")
        #expect(LSN("ffffffff/ffffffff")?.value == UInt64.max)
        #expect(LSN(UInt64.max).description == "FFFFFFFF/FFFFFFFF")
        #expect(LSN.zero.description == "0/0")
    }

    @Test(arguments: ["", "/", "0/", "/0", "0/0/0", "123456789/0", "0/123456789", "g/0", "0x1/0", " 0/1", "-1/0"])
    func rejectsMalformedText(_ text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func ordersByPosition() {
        let values = ["1/0", "0/FFFFFFFF", "0/16B3748", "0/16B3749"].compactMap { LSN($0) }
        #expect(values.sorted().map(\.description) == ["0/16B3748", "0/16B3749", "0/FFFFFFFF", "1/0"])
        #expect(LSN(5) < LSN(6))
        #expect(!(LSN(6) < LSN(6)))
    }

    @Test func codesAsJSONString() throws {
        let data = try JSONEncoder().encode([LSN(0x1_0000_00FF)])
        #expect(String(decoding: data, as: UTF8.self) == #"["1\/FF"]"# || String(decoding: data, as: UTF8.self) == #"["1/FF"]"#)
        #expect(try JSONDecoder().decode([LSN].self, from: data) == [LSN(0x1_0000_00FF)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([LSN].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
