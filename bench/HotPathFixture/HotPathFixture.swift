import Configuration
import EventMapping
import PostgresReplication

/// The fixed input of the hot path, shared by `walbridge-bench hotpath` and
/// the allocation-budget tests: one transaction of inserts into the bench
/// table (`public.users` as the walsender describes it with the publication's
/// column list: id, username, first_name, last_name, email), framed as
/// pgoutput messages, and the mapper of the bench configuration.
public struct HotPathFixture: Sendable {
    public static let relationID: UInt32 = 16_390

    /// A Relation, a Begin, `rows` Inserts and a Commit.
    public let messages: [[UInt8]]
    public let mapper: EventMapper

    public init(rows: Int) throws {
        var messages: [[UInt8]] = []
        messages.append(Self.relation())
        let commitLSN: UInt64 = 0x1_6B37_4800
        messages.append(Self.begin(finalLSN: commitLSN, xid: 1234))
        for row in 1...rows {
            messages.append(Self.insert(id: row))
        }
        messages.append(Self.commit(commitLSN: commitLSN, endLSN: commitLSN + 0x30))
        self.messages = messages
        let yaml = """
            postgres: {url: "postgres://walbridge@127.0.0.1:5432/walbridge_bench", slot: bench}
            kafka: {bootstrap_servers: "127.0.0.1:9092"}
            checkpoint: {path: /tmp/checkpoint.json}
            mappings:
              - table: public.users
                topic: bench.users
                key: [id]
                events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
                fields: {id: userId, username: username, first_name: firstName, last_name: lastName, email: email}
            """
        let configuration = try BridgeConfiguration.parse(yaml: yaml, source: "bench", environment: [:])
        mapper = try EventMapper(configuration: configuration, systemID: "7441385066946674702", database: "walbridge_bench")
    }

    // MARK: - pgoutput framing

    static func relation() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "R")]
        append(&out, relationID)
        out += Array("public".utf8) + [0] + Array("users".utf8) + [0] + [UInt8(ascii: "d")]
        let columns: [(String, UInt32, Bool)] = [
            ("id", 20, true), ("username", 25, false), ("first_name", 25, false),
            ("last_name", 25, false), ("email", 25, false),
        ]
        append(&out, UInt16(columns.count))
        for (name, oid, key) in columns {
            out.append(key ? 1 : 0)
            out += Array(name.utf8) + [0]
            append(&out, oid)
            append(&out, UInt32.max)
        }
        return out
    }

    static func begin(finalLSN: UInt64, xid: UInt32) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "B")]
        append(&out, finalLSN)
        append(&out, UInt64(848_000_000_000_000))
        append(&out, xid)
        return out
    }

    static func insert(id: Int) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "I")]
        append(&out, relationID)
        out.append(UInt8(ascii: "N"))
        let values = ["\(id)", "user\(id)", "First", "Last", "user\(id)@example.com"]
        append(&out, UInt16(values.count))
        for value in values {
            out.append(UInt8(ascii: "t"))
            append(&out, UInt32(value.utf8.count))
            out += Array(value.utf8)
        }
        return out
    }

    static func commit(commitLSN: UInt64, endLSN: UInt64) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "C"), 0]
        append(&out, commitLSN)
        append(&out, endLSN)
        append(&out, UInt64(848_000_000_000_000))
        return out
    }

    static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.bigEndian) { out += $0 }
    }
}
