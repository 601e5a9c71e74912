@testable import Configuration
@testable import EventMapping
import Foundation
import PostgresReplication
import Testing

@Suite("Field transforms: hmac-sha256 and mask last4")
struct FieldTransformTests {
    typealias F = SoftDeleteFixtures
    static let key = "0123456789abcdef0123456789abcdef-pii"
    static let environment = Fixtures.environment.merging(["PII_KEY": key]) { $1 }

    static let mapping = """
      - table: public.users
        topic: auth.users.events
        key: [id]
        events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
        fields:
          id: userId
          email: {as: emailHash, hash: hmac-sha256, key: "${PII_KEY}"}
          phone: {as: phone, mask: last4}
    """

    static func mapper(_ mapping: String = mapping) throws -> EventMapper {
        let configuration = try BridgeConfiguration.parse(yaml: F.yaml(mapping), source: "walbridge.yaml", environment: environment)
        return try EventMapper(configuration: configuration, systemID: Fixtures.systemID, database: "auth")
    }

    /// HMAC-SHA256 by Python's `hmac` module: an implementation independent of WalBridge's own.
    static func pythonHMAC(_ message: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())", key, message]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 is needed for this test")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func insert(_ mapper: EventMapper, _ row: Row) throws -> (text: String, data: [String: Any]) {
        let change = RowChange(operation: .insert, relation: F.relation, new: row, old: nil, oldKind: nil, ordinal: 0)
        let record = try #require(try mapper.map(change, transaction: Fixtures.transaction).first)
        let text = try #require(Fixtures.text(record.value))
        return (text, try #require(try F.json(record)["data"] as? [String: Any]))
    }

    @Test func hmacMatchesPython() throws {
        let (text, data) = try insert(Self.mapper(), F.row)
        let expected = try Self.pythonHMAC("ada@example.com")
        #expect(expected == "90a2e1c7d41b21c5866993e2c7a37c2509935bb161db62abfe40f31a2cf691b8")
        #expect(data["emailHash"] as? String == expected)
        #expect(data["phone"] as? String == "************0123")
        #expect(!text.contains("ada@example.com"))
        #expect(!text.contains("7946"))
        #expect(!text.contains(Self.key))
    }

    @Test func hmacOfNonTextValuesHashesTheirText() throws {
        // An integer's text is its JSON text, "42"; a boolean's "true".
        var row = F.row
        row[2] = .value(.int(42))
        #expect(try insert(Self.mapper(), row).data["emailHash"] as? String == (try Self.pythonHMAC("42")))
        row[2] = .value(.bool(true))
        #expect(try insert(Self.mapper(), row).data["emailHash"] as? String == (try Self.pythonHMAC("true")))
        row[2] = .value(.string(""))
        #expect(try insert(Self.mapper(), row).data["emailHash"] as? String == (try Self.pythonHMAC("")))
        row[2] = .value(.string("zoë@例え.jp"))
        #expect(try insert(Self.mapper(), row).data["emailHash"] as? String == (try Self.pythonHMAC("zoë@例え.jp")))
    }

    @Test func nullStaysNull() throws {
        var row = F.row
        row[2] = .value(.null)
        row[5] = .value(.null)
        let (text, _) = try insert(Self.mapper(), row)
        #expect(text.contains(#""emailHash":null"#))
        #expect(text.contains(#""phone":null"#))
    }

    @Test func masks() {
        #expect(JSONWriter.maskedLast4("+44 20 7946 0123") == "************0123")
        #expect(JSONWriter.maskedLast4("12345") == "*2345")
        #expect(JSONWriter.maskedLast4("1234") == "****")
        #expect(JSONWriter.maskedLast4("12") == "**")
        #expect(JSONWriter.maskedLast4("") == "")
        // Characters, not bytes: two flags, é, then 1 2 3 are six characters, the last four kept.
        #expect(JSONWriter.maskedLast4("🇬🇧🇫🇷é123") == "**é123")
    }

    @Test func maskOfANumberIsAString() throws {
        var row = F.row
        row[5] = .value(.int(4_420_794_601_23))
        #expect(try insert(Self.mapper(), row).data["phone"] as? String == "********0123")
    }

    @Test func updateTransformsDataAndPrevious() throws {
        var new = F.row
        new[2] = .value(.string("ada@lovelace.org"))
        let change = RowChange(operation: .update, relation: F.relation, new: new, old: F.row, oldKind: .full, ordinal: 0)
        let record = try #require(try Self.mapper().map(change, transaction: Fixtures.transaction).first)
        let json = try F.json(record)
        #expect((json["data"] as? [String: Any])?["emailHash"] as? String == (try Self.pythonHMAC("ada@lovelace.org")))
        #expect((json["previous"] as? [String: Any])?["emailHash"] as? String == (try Self.pythonHMAC("ada@example.com")))
        #expect(json["changedFields"] as? [String] == ["emailHash"])
        #expect(!Fixtures.text(record.value)!.contains("lovelace.org"))
    }

    @Test func snapshotRowsAreTransformedToo() throws {
        let context = SnapshotEventContext(jobID: "job-1", transaction: Fixtures.transaction)
        let record = try #require(try Self.mapper().mapSnapshotRow(F.row, relation: F.relation, context: context))
        #expect(!Fixtures.text(record.value)!.contains("ada@example.com"))
        #expect(Fixtures.text(record.value)!.contains(try Self.pythonHMAC("ada@example.com")))
    }

    @Test func keyNeverInDescriptions() throws {
        let configuration = try BridgeConfiguration.parse(yaml: F.yaml(Self.mapping), source: "walbridge.yaml", environment: Self.environment)
        for text in [String(describing: configuration), String(reflecting: configuration), "\(configuration.mappings)"] {
            #expect(!text.contains(Self.key))
            #expect(!text.contains("0123456789abcdef"))
        }
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("0123456789abcdef"))
    }

    @Test func schemaOfTransformedFields() throws {
        let configuration = try BridgeConfiguration.parse(yaml: F.yaml(Self.mapping), source: "walbridge.yaml", environment: Self.environment)
        let schemas = try EventSchemaGenerator.schemas(
            configuration: configuration, columns: [QualifiedName(schema: "public", table: "users"): F.columns],
            keyColumns: [QualifiedName(schema: "public", table: "users"): ["id"]])
        let registered = try #require(schemas.first { $0.eventType == "UserRegistered" })
        let properties = registered.schema["properties"]?["data"]?["properties"]
        #expect(properties?["emailHash"]?["pattern"] == .string("^[0-9a-f]{64}$"))
        #expect(registered.schema.encoded(pretty: true).contains("hmac-sha256"))
        #expect(!registered.schema.encoded(pretty: true).contains(Self.key))
    }

    // MARK: Configuration errors

    func configurationError(_ mapping: String, environment: [String: String] = environment) -> ConfigurationError? {
        Fixtures.error(F.yaml(mapping), environment: environment)
    }

    @Test func shortKeyIsRefusedWithoutShowingIt() throws {
        let short = "short-secret-31-bytes-long-xxxx"
        #expect(short.utf8.count == 31)
        let error = try #require(configurationError(Self.mapping, environment: Self.environment.merging(["PII_KEY": short]) { $1 }))
        #expect(error.keyPath == "mappings[0].fields.email.key")
        #expect(error.description.contains("31 bytes"))
        #expect(error.description.contains("at least 32 bytes"))
        #expect(!error.description.contains(short))
        #expect(!String(reflecting: error).contains(short))
    }

    @Test func literalKeyNeverInErrorText() throws {
        // A literal key in the file, and an error elsewhere in the same field.
        let literal = "literal-secret-key-that-is-long-enough-1234"
        let mapping = Self.mapping.replacingOccurrences(of: #""${PII_KEY}""#, with: literal)
            .replacingOccurrences(of: "hash: hmac-sha256", with: "hash: hmac-sha1")
        let error = try #require(configurationError(mapping))
        #expect(error.description.contains("hmac-sha1"))
        #expect(!error.description.contains(literal))
        let mask = Self.mapping.replacingOccurrences(of: "phone: {as: phone, mask: last4}", with: "phone: {as: phone, mask: last4, key: \(literal)}")
        let maskError = try #require(configurationError(mask))
        #expect(maskError.description.contains("key applies to hash"))
        #expect(!maskError.description.contains(literal))
    }

    @Test func transformErrors() throws {
        func message(_ old: String, _ new: String) throws -> String {
            try #require(configurationError(Self.mapping.replacingOccurrences(of: old, with: new))).description
        }
        #expect(try message("mask: last4", "mask: first4").contains("write mask: last4"))
        #expect(try message("{as: phone, mask: last4}", "{as: phone}").contains("names no transform"))
        #expect(try message("mask: last4", "mask: last4, hash: hmac-sha256").contains("both hash and mask"))
        #expect(try message(#", key: "${PII_KEY}""#, "").contains("key"))
        #expect(try message("mask: last4", "mask: last4, salt: x").contains("salt"))
        // A key column cannot be transformed.
        let keyed = Self.mapping.replacingOccurrences(of: "key: [id]", with: "key: [email]")
        #expect(try #require(configurationError(keyed)).description.contains("cannot be transformed"))
    }

    @Test func transformedPrimaryKeyIsRefused() throws {
        let mapping = Self.mapping.replacingOccurrences(of: "    key: [id]\n", with: "")
            .replacingOccurrences(of: "id: userId", with: "id: {as: userId, mask: last4}")
        let configuration = try BridgeConfiguration.parse(yaml: F.yaml(mapping), source: "walbridge.yaml", environment: Self.environment)
        #expect(throws: ConfigurationError.self) {
            try EventMapper(configuration: configuration, keyColumns: [QualifiedName(schema: "public", table: "users"): ["id"]],
                            systemID: Fixtures.systemID, database: "auth")
        }
    }
}

@Suite("Update rule configuration errors")
struct UpdateRuleConfigurationTests {
    typealias F = SoftDeleteFixtures

    func message(_ old: String, _ new: String) throws -> String {
        precondition(F.mapping.contains(old), old)
        return try #require(Fixtures.error(F.yaml(F.mapping.replacingOccurrences(of: old, with: new)))).description
    }

    @Test func parsesTheContractExample() throws {
        let configuration = try Fixtures.configuration(F.yaml())
        guard case .table(let mapping) = configuration.mappings[0] else { Issue.record("not a table mapping"); return }
        #expect(mapping.skipUnchanged)
        #expect(mapping.events.update == nil)
        #expect(mapping.events.updateRules == [
            UpdateRule(eventType: "UserDeleted", set: ["deleted_at"], fields: ["userId"]),
            UpdateRule(eventType: "UserRestored", cleared: ["deleted_at"]),
            UpdateRule(eventType: "UserEmailChanged", changed: ["email"]),
            UpdateRule(eventType: "UserUpdated"),
        ])
        #expect(mapping.ruleOnlyColumns == ["deleted_at"])
        #expect(mapping.readColumns == ["id", "username", "email", "deleted_at"])
        #expect(mapping.needsOldRow)
    }

    @Test func unknownRuleKey() throws {
        let text = try message("when: {set: deleted_at}", "wehn: {set: deleted_at}")
        #expect(text.contains("wehn") && text.contains("did you mean 'when'"))
        let condition = try message("when: {set: deleted_at}", "when: {sett: deleted_at}")
        #expect(condition.contains("sett") && condition.contains("did you mean 'set'"))
    }

    @Test func unknownPublishedFieldSuggestsOne() throws {
        let text = try message("fields: [userId]", "fields: [userid]")
        #expect(text.contains("'userid' is not a published field name"))
        #expect(text.contains("did you mean 'userId'"))
        // A column name (before the rename) is not a published field name.
        #expect(try message("fields: [userId]", "fields: [id]").contains("not a published field name"))
    }

    @Test func otherRuleErrors() throws {
        #expect(try message("when: {set: deleted_at}", "when: {}").contains("names no column"))
        #expect(try message("when: {set: deleted_at}", "when: {set: deleted_at, cleared: deleted_at}").contains("both set and cleared"))
        #expect(try message("        - event: UserRestored\n", "        - event: UserCatchAll\n          fields: [userId]\n        - event: UserRestored\n")
            .contains("never reached"))
        #expect(try message("- event: UserEmailChanged", "- evnt: UserEmailChanged").contains("evnt"))
        #expect(try message("skip_unchanged: true", "skip_unchanged: maybe").contains("true or false"))
        let noUpdate = F.mapping[F.mapping.range(of: "      update:\n")!.lowerBound..<F.mapping.range(of: "    skip_unchanged")!.lowerBound]
        #expect(try message(String(noUpdate), "").contains("skip_unchanged applies to update events"))
    }
}
