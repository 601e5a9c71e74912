import EventMapping
import Foundation
import PostgresReplication
import Testing
import WalBridge

/// Issue 5, item 1: every type of docs/events.md's value encoding, with edge values,
/// inserted into a real table and compared with what Postgres itself computes
/// for the same row (under the documented session settings).
@Suite("Value fidelity: the type matrix against real Postgres", .serialized)
struct ValueFidelityTests {
    /// One column: its SQL type, the values of rows 1 and 2 (row 3 is all NULL),
    /// and a SQL expression over `c` that yields the expected JSON.
    struct Column {
        var name: String
        var type: String
        var values: (String, String)
        var expected: String
        init(_ name: String, _ type: String, _ first: String, _ second: String, expected: String = "to_json(c)") {
            self.name = name; self.type = type; self.values = (first, second); self.expected = expected
        }
    }

    static let utc = #"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#
    static let columns: [Column] = [
        Column("i2", "int2", "32767", "-32768"),
        Column("i4", "int4", "2147483647", "-2147483648"),
        Column("i8", "int8", "9223372036854775807", "-9223372036854775808"),
        Column("f4", "float4", "'1.1'", "'-Infinity'"),
        Column("f8", "float8", "'NaN'", "'-0'"),
        Column("f8b", "float8", "'Infinity'", "'1.7976931348623157e308'"),
        Column("f8c", "float8", "'5e-324'", "'0.1'"),
        Column("n1", "numeric", "'NaN'", "'1e-30'", expected: "to_json(format('%s', c))"),
        Column("n2", "numeric", "'Infinity'", "'-Infinity'", expected: "to_json(format('%s', c))"),
        Column("n3", "numeric", "'1234567890123456789012345678901234567890'", "'-0.000000000000000000000000000001000'", expected: "to_json(format('%s', c))"),
        Column("n4", "numeric(12,2)", "'12.5'", "'-0'", expected: "to_json(format('%s', c))"),
        Column("bo", "bool", "true", "false"),
        Column("tx", "text", #"E'quote \" backslash \\ newline \n tab \t cr \r ctrl \x01 emoji 🦄 e\u0301'"#, "''"),
        Column("vc", "varchar(10)", "'ab'", "'NULL'"),
        Column("bp", "char(5)", "'ab'", "'abcde'", expected: "to_json(c::varchar || repeat(' ', 5 - octet_length(c::varchar)))"),
        Column("uu", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'"),
        Column("js", "json", #"'{"b": [1, 2.50, "x"], "a": null}'"#, "'[]'"),
        Column("jb", "jsonb", #"'{"nested": {"k": "v\"q"}, "n": 1e-3}'"#, #"'"just a string"'"#),
        Column("by", "bytea", "(SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g)", "''::bytea",
               expected: "to_json(replace(encode(c, 'base64'), E'\\n', ''))"),
        Column("da", "date", "'2026-11-23'", "'infinity'",
               expected: "to_json(CASE WHEN isfinite(c) THEN to_char(c, 'YYYY-MM-DD') ELSE c::text END)"),
        Column("db", "date", "'-infinity'", "'0044-03-15 BC'", expected: "to_json(format('%s', c))"),
        Column("ti", "time", "'23:59:59.999999'", "'24:00:00'", expected: "to_json(CASE WHEN c = '24:00' THEN '24:00:00.000000' ELSE to_char('2000-01-01'::date + c, 'HH24:MI:SS.US') END)"),
        Column("ts", "timestamp", "'2026-11-23 05:12:00.123456'", "'infinity'",
               expected: #"to_json(CASE WHEN isfinite(c) THEN to_char(c, 'YYYY-MM-DD"T"HH24:MI:SS.US') ELSE c::text END)"#),
        Column("tz", "timestamptz", "'2026-11-23 05:12:00.123456+05:45'", "'-infinity'",
               expected: "to_json(CASE WHEN isfinite(c) THEN to_char(c AT TIME ZONE 'UTC', \(utc)) ELSE c::text END)"),
        Column("iv", "interval", "'1 year 2 months 3 days 04:05:06.789'", "'-1 day'", expected: "to_json(format('%s', c))"),
        Column("tt", "timetz", "'12:00:00.5+05:30'", "'00:00:00-12'", expected: "to_json(format('%s', c))"),
        Column("ip", "inet", "'192.168.0.1/24'", "'::1'", expected: "to_json(format('%s', c))"),
        Column("ci", "cidr", "'10.0.0.0/8'", "'2001:db8::/32'", expected: "to_json(format('%s', c))"),
        Column("ma", "macaddr", "'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'", expected: "to_json(format('%s', c))"),
        Column("mo", "money", "'1234.56'", "'-0.01'", expected: "to_json(format('%s', c))"),
        Column("xm", "xml", #"'<a b="1">t&amp;ü</a>'"#, "'plain'", expected: "to_json(format('%s', c))"),
        Column("bi", "bit(8)", "B'10101010'", "B'00000000'", expected: "to_json(format('%s', c))"),
        Column("vb", "varbit", "B'1'", "B''", expected: "to_json(format('%s', c))"),
        Column("r4", "int4range", "'[1,10)'", "'empty'", expected: "to_json(format('%s', c))"),
        Column("tr", "tstzrange", #"'["2026-01-01 00:00+02","2026-02-01 00:00+00")'"#, "'(,infinity]'", expected: "to_json(format('%s', c))"),
        Column("pt", "point", "'(1.5,-2)'", "'(0,0)'", expected: "to_json(format('%s', c))"),
        Column("mood", "mood", "'ok'", "'very sad'"),
        Column("email", "email_t", "'ada@example.com'", "''"),
        Column("ia", "int4[]", "'{1,NULL,3}'", "'{{1,2},{3,4}}'"),
        Column("ta", "text[]", #"ARRAY['a b', 'q"uote', 'back\slash', 'NULL', NULL, '', '{brace}', 'comma,', 'ü🦄']"#, "'{}'"),
        Column("na", "numeric[]", "'{1.50,NaN,NULL,-1e-30}'", "'{{1,2},{3,4}}'", expected: "to_json(c::text[])"),
        Column("tza", "timestamptz[]", "ARRAY['2026-11-23 05:12:00+00'::timestamptz, NULL, 'infinity']", "'{}'",
               expected: "(SELECT COALESCE(json_agg(CASE WHEN e IS NULL THEN NULL WHEN isfinite(e) THEN to_char(e AT TIME ZONE 'UTC', \(utc)) ELSE e::text END ORDER BY o), '[]') FROM unnest(c) WITH ORDINALITY u(e, o))"),
        Column("jba", "jsonb[]", #"ARRAY['{"a":1}'::jsonb, NULL, '"s"']"#, "'{}'"),
        Column("moa", "mood[]", #"'{ok,"very sad",NULL}'"#, "'{}'", expected: "to_json(c::text[])"),
        Column("bya", "bytea[]", #"ARRAY['\x00ff'::bytea, NULL]"#, "'{}'",
               expected: "(SELECT COALESCE(json_agg(encode(e, 'base64') ORDER BY o), '[]') FROM unnest(c) WITH ORDINALITY u(e, o))"),
    ]

    /// Columns whose domain type needs the decoder's base-type map (see the report).
    static let domainColumns: [Column] = [
        Column("pos", "posint", "42", "2147483647"),
        Column("stamp", "stamp_t", "'2026-11-23 05:12:00.5+01'", "'infinity'",
               expected: "to_json(CASE WHEN isfinite(c) THEN to_char(c AT TIME ZONE 'UTC', \(utc)) ELSE c::text END)"),
    ]

    static let typesSQL = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'very sad');
        CREATE DOMAIN email_t AS text CHECK (VALUE NOT LIKE '% %');
        CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
        CREATE DOMAIN stamp_t AS timestamptz;
        """

    @Test("every documented type, with edge values and NULLs, arrives as Postgres computes it")
    func typeMatrix() throws {
        let byID = try streamMatrix(Self.columns.filter { $0.type != "xml" } + Self.domainColumns)
        // Independently of SQL: the microsecond instant of rows 1 and 4 in UTC.
        #expect(byID[1]?.data?["tz"] as? String == "2026-11-22T23:27:00.123456Z")
        #expect(byID[4]?.data?["tz"] as? String == "2026-11-22T23:27:00.123456Z")
        #expect(byID[1]?.data?["n3"] as? String == "1234567890123456789012345678901234567890")
        #expect(byID[2]?.data?["n1"] as? String == "0.000000000000000000000000000001")
        #expect(byID[2]?.data?["bp"] as? String == "abcde")
        #expect(byID[1]?.data?["bp"] as? String == "ab   ")
        #expect(byID[3]?.data?["ia"] is NSNull)
    }

    // A test of its own: the PyPI builds of Postgres 16 and 18 that scripts/test.sh
    // uses without apt packages have no libxml, so they cannot store an `xml` value at all.
    @Test("xml arrives as Postgres computes it",
          .enabled(if: TestServer.hasXML, "the Postgres server was built without libxml: it refuses every xml value"))
    func xmlType() throws {
        let byID = try streamMatrix(Self.columns.filter { $0.type == "xml" || $0.name == "tz" })
        #expect(byID[1]?.data?["xm"] as? String == #"<a b="1">t&amp;ü</a>"#)
    }

    /// Streams rows 1 and 2 (each column's two values), 3 (all NULL) and 4 (a
    /// timestamptz in the writer's zone; `all` must include `tz`) of a table with
    /// `all`'s columns, checks every value against what Postgres computes and
    /// every event against its generated JSON Schema; returns the events by id.
    private func streamMatrix(_ all: [Column]) throws -> [Int: ReceivedEvent] {
        let setup = try BridgeTestSetup(publish: false)
        let db = setup.database
        try db.sql(Self.typesSQL)
        try db.sql("CREATE TABLE matrix (id int PRIMARY KEY, " + all.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ")")
        try setup.grant("matrix")
        try db.sql("CREATE PUBLICATION walbridge FOR TABLE matrix")
        let fields = (["id"] + all.map(\.name)).map { "      \($0): \($0)" }.joined(separator: "\n")
        let mappings = """
          - table: public.matrix
            topic: types.events
            key: [id]
            events: {insert: Typed}
            fields:
        \(fields)
        """
        let bridge = try setup.startBridge(mappings: mappings, topics: ["types.events"])
        let collector = try setup.collector(topic: "types.events")

        // The writing session uses another time zone and money locale than the walsender.
        try db.sql("SET TimeZone = 'Asia/Kathmandu'; SET lc_monetary = 'C'")
        let names = all.map(\.name).joined(separator: ", ")
        try db.sql("INSERT INTO matrix (id, \(names)) VALUES (1, \(all.map(\.values.0).joined(separator: ", ")))")
        try db.sql("INSERT INTO matrix (id, \(names)) VALUES (2, \(all.map(\.values.1).joined(separator: ", ")))")
        try db.sql("INSERT INTO matrix (id) VALUES (3)")
        // A timestamp without zone, read in the writer's zone (+05:45).
        try db.sql("INSERT INTO matrix (id, tz) VALUES (4, '2026-11-23 05:12:00.123456')")

        let events = try collector.collect(count: 4)
        try #require(events.count == 4)
        #expect(try bridge.stopAndWait() == nil)

        // What Postgres says, under the settings the walsender uses.
        try db.sql("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3")
        let expressions = all.map { column in
            "(SELECT CASE WHEN c IS NULL THEN NULL ELSE (\(column.expected))::text END FROM (SELECT \(column.name) AS c) s) AS \(column.name)"
        }
        let expected = try db.sql("SELECT id, \(expressions.joined(separator: ", ")) FROM matrix ORDER BY id")
        let byID = Dictionary(uniqueKeysWithValues: events.map { ($0.data?["id"] as? Int ?? -1, $0) })
        for row in expected.rows {
            let id = Int(row[0]!)!
            let event = try #require(byID[id], "no event for row \(id)")
            let data = try #require(event.data)
            for (index, column) in all.enumerated() {
                let want = try row[index + 1].map { try parseJSON($0) } ?? NSNull()
                if id == 4 && column.name != "tz" { continue }
                let got = canonicalJSON(data[column.name])
                if id == 2 && column.name == "f8" {
                    // -0: JSON parsers read Postgres's `-0` as the integer 0; check the sign in the raw text.
                    #expect(row[index + 1] == "-0")
                    #expect(event.rawValue.contains(#""f8":-0.0"#), "float8 -0 keeps its sign")
                } else {
                    #expect(got == canonicalJSON(want), "row \(id), \(column.name) \(column.type): event \(got), Postgres \(canonicalJSON(want))")
                }
            }
            #expect(data.count == all.count + 1, "every mapped field is present, NULL as null")
        }

        // Item 8: the generated JSON Schemas accept every real event.
        let schemas = try SourceSchemas.eventSchemas(try setup.configuration(mappings: mappings), logger: .init(label: "test"))
        let schema = try #require(schemas.first { $0.eventType == "Typed" })
        for event in events {
            let problems = JSONSchemaCheck.errors(event.envelope, against: schema.schema)
            #expect(problems.isEmpty, "event \(event.data?["id"] ?? "?") violates its schema: \(problems)")
        }
        return byID
    }
}
