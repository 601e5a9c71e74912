import EventMapping
import Foundation
import Testing

/// Issue 5, item 8: `walbridge schema --config FILE` as a user runs it.
@Suite("walbridge schema", .serialized)
struct SchemaCommandTests {
    @Test("prints one draft 2020-12 schema per event; a refused mapping exits 2")
    func schemaCommand() throws {
        let setup = try BridgeTestSetup()
        let path = try setup.writeConfiguration(setup.yaml(mappingExtra: "    truncate: UsersTruncated"))
        let result = try WalBridgeProcess.run(["schema", "--config", path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(document.keys) == ["UserRegistered", "UserUpdated", "UserDeleted", "UsersTruncated"])
        let registered = try #require(document["UserRegistered"] as? [String: Any])
        #expect(registered["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let data = try #require((registered["properties"] as? [String: Any])?["data"] as? [String: Any])
        #expect(Set((data["properties"] as? [String: Any] ?? [:]).keys) == ["userId", "username", "firstName", "lastName", "email"])
        #expect(!result.stdout.contains("password"))

        let bad = try setup.writeConfiguration(setup.yaml(mappingExtra: "    where: \"email LIKE '%@example.com'\""), name: "bad.yaml")
        let refused = try WalBridgeProcess.run(["schema", "--config", bad])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("replica identity"))
    }
}
