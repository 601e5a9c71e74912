@testable import Configuration
import Foundation
import Testing
@testable import EventMapping

/// Every configuration key the parser accepts is documented in
/// docs/configuration.md as `` `dotted.path` `` (issue 6, item 7).
///
/// The key list is not a copy: it is read from the parser itself. For each
/// section, a key that matches nothing is injected; the parser's "unknown key"
/// error lists the valid keys of that section. Each valid key is then tried
/// as a section of its own, so nested sections are found the same way.
@Suite("Configuration keys are documented")
struct ConfigurationDocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let probe = "zz_documentation_probe_key_that_resembles_no_real_key"

    /// A valid mapping item of each kind, to probe its keys.
    static func baseMapping(kind: String) -> [String: Any] {
        switch kind {
        case "outbox": ["kind": "outbox", "table": "public.outbox", "topic": "t"]
        case "message": ["kind": "message", "prefix": "p", "topic": "t", "event": "E"]
        default: ["table": "public.users", "topic": "t", "events": ["insert": "A"], "fields": ["id": "id"]]
        }
    }

    static func baseConfiguration(kind: String) -> [String: Any] {
        [
            "postgres": ["url": "postgres://u:p@h:5432/d"],
            "kafka": ["bootstrap_servers": "h:9092"],
            "mappings": [baseMapping(kind: kind)],
        ]
    }

    /// The valid keys the parser names for the mapping at `path`, or nil when `path` is not a section.
    static func validKeys(at path: [String], kind: String) throws -> [String]? {
        var document = baseConfiguration(kind: kind)
        insertProbe(into: &document, path: path)
        let yaml = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
        do {
            _ = try BridgeConfiguration.parse(yaml: yaml, source: "probe.yaml", environment: [:])
            return nil
        } catch {
            guard case .unknownKey(let key, _) = error.kind, key == probe,
                  let range = error.message.range(of: "valid keys are: ") else { return nil }
            return error.message[range.upperBound...].split(separator: ", ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        }
    }

    /// Adds the probe key to the mapping at `path` (creating it, or replacing a scalar there).
    static func insertProbe(into node: inout [String: Any], path: [String]) {
        guard let first = path.first else {
            node[probe] = 1
            return
        }
        if first == "mappings[]" {
            var items = node["mappings"] as! [[String: Any]]
            insertProbe(into: &items[0], path: Array(path.dropFirst()))
            node["mappings"] = items
            return
        }
        var child = node[first] as? [String: Any] ?? [:]
        insertProbe(into: &child, path: Array(path.dropFirst()))
        node[first] = child
    }

    /// Every documented-to-be key path, e.g. `postgres.url`, `mappings[].events.insert`.
    static func parserKeyPaths() throws -> Set<String> {
        var found = Set<String>()
        func walk(_ path: [String], kind: String) throws {
            guard let keys = try validKeys(at: path, kind: kind) else { return }
            for key in keys where key != "mappings" || !path.isEmpty {
                let child = path + [key]
                found.insert(child.joined(separator: "."))
                try walk(child, kind: kind)
            }
            if path.isEmpty {
                found.insert("mappings")
            }
        }
        try walk([], kind: "table")
        for kind in MappingDecoder.kinds {
            try walk(["mappings[]"], kind: kind)
        }
        return found
    }

    @Test("the probe finds the parser's sections and nested keys")
    func probeWorks() throws {
        let keys = try Self.parserKeyPaths()
        // A few that must be there, so a broken probe cannot pass by finding nothing.
        for expected in ["postgres.url", "kafka.properties", "metrics.listen", "logging.format",
                         "mappings[].events.insert", "mappings[].snapshot.chunk_size", "mappings[].outbox.payload", "mappings[].prefix"] {
            #expect(keys.contains(expected), "probe did not find \(expected) in \(keys.sorted())")
        }
        #expect(!keys.contains("kafka.properties.\(Self.probe)"))
    }

    @Test("docs/configuration.md names every key the parser accepts")
    func everyKeyDocumented() throws {
        let docs = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let missing = try Self.parserKeyPaths().filter { !docs.contains("`\($0)`") }.sorted()
        #expect(missing.isEmpty, "docs/configuration.md does not document: \(missing.joined(separator: ", "))")
    }
}
