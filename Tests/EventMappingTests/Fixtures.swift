@testable import Configuration
import Foundation
@testable import EventMapping
import PostgresReplication

/// Shared test data: docs/configuration.md's example configuration and its `users` table.
enum Fixtures {
    static let designYAML = """
    postgres:
      url: postgres://walbridge:${PGPASSWORD}@127.0.0.1:5432/auth
      slot: walbridge
      publication: walbridge        # created for the mapped tables if missing
      replay_window: 0s             # keep this much WAL replayable (see Replay)
    kafka:
      bootstrap_servers: 127.0.0.1:9092
      properties: {}                # passed through to librdkafka
      dead_letter_topic: null       # e.g. walbridge.dlq; off by default
    checkpoint:
      path: ./walbridge-state/checkpoint.json
    shutdown_timeout: 10s
    logging: {level: info, format: text}   # format: text | json
    metrics: {listen: null}                # e.g. 127.0.0.1:9187 → /metrics, /healthz, /readyz
    mappings:
      - table: public.users
        topic: auth.users.events
        key: [id]
        events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
        fields:                     # an allowlist: only these columns leave the database
          id: userId
          username: username
          first_name: firstName
          last_name: lastName
          email: email
    """

    static let environment = ["PGPASSWORD": "s3cr3t-pw"]
    static let systemID = "7300000000000000001"
    static let transaction = TransactionInfo(commitLSN: LSN(0x16B3748), commitTimeMicros: 1_795_410_720_123_456, xid: 1234)

    /// `public.users` with a `password_hash` column that must never be published.
    static func usersRelation(identity: Relation.ReplicaIdentity = .default) -> Relation {
        let full = identity == .full
        func column(_ name: String, _ oid: UInt32, key: Bool = false) -> Relation.Column {
            Relation.Column(name: name, typeOID: oid, typeModifier: -1, isKey: key || full)
        }
        return Relation(id: 16_384, schema: "public", name: "users", replicaIdentity: identity, columns: [
            column("id", 20, key: true),
            column("username", 25),
            column("password_hash", 25),
            column("first_name", 25),
            column("last_name", 25),
            column("email", 25),
        ])
    }

    static let adaRow: Row = [
        .value(.int(42)), .value(.string("ada")), .value(.string("$argon2id$SECRET")),
        .value(.string("Ada")), .value(.string("Lovelace")), .value(.string("ada@example.com")),
    ]

    static func configuration(_ yaml: String = designYAML, environment: [String: String] = environment) throws -> BridgeConfiguration {
        try BridgeConfiguration.parse(yaml: yaml, source: "walbridge.yaml", environment: environment)
    }

    static func mapper(_ yaml: String = designYAML, primaryKeys: [QualifiedName: [String]] = [:]) throws -> EventMapper {
        try EventMapper(configuration: configuration(yaml), keyColumns: primaryKeys, systemID: systemID, database: "auth")
    }

    static func text(_ bytes: [UInt8]?) -> String? {
        bytes.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The parse error of a YAML text (fails the test when it parses).
    static func error(_ yaml: String, environment: [String: String] = environment) -> ConfigurationError? {
        do {
            _ = try BridgeConfiguration.parse(yaml: yaml, source: "walbridge.yaml", environment: environment)
            return nil
        } catch {
            return error
        }
    }

    /// The example file with one line replaced.
    static func designYAML(replacing old: String, with new: String) -> String {
        precondition(designYAML.contains(old), "fixture line not found: \(old)")
        return designYAML.replacingOccurrences(of: old, with: new)
    }
}
