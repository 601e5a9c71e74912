/// A Postgres server's version (`server_version_num`) and what WalBridge can
/// use on it: the one place that knows which major version brought what.
public struct ServerVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `server_version_num`: `160014` for 16.14 (`90624` for 9.6.24).
    public let number: Int

    /// The oldest major version WalBridge supports: 15 brought row filters and
    /// column lists in publications, which the mappings rely on.
    public static let oldestSupportedMajor = 15

    public init(number: Int) {
        self.number = number
    }

    /// Reads `server_version_num`'s text (`"160014"`); nil when it is not a positive number.
    public init?(serverVersionNum text: String) {
        guard let number = Int(text), number > 0 else { return nil }
        self.init(number: number)
    }

    /// The major version: 16 for 16.14 (9 for 9.6.24, whose major is "9.6").
    public var major: Int { number / 10000 }

    /// The minor version: 14 for 16.14 (24 for 9.6.24).
    public var minor: Int { number >= 100_000 ? number % 10000 : number % 100 }

    /// `16.14`, or `9.6.24` before version 10 numbered its majors with one number.
    public var description: String {
        number >= 100_000 ? "\(major).\(minor)" : "\(number / 10000).\(number / 100 % 100).\(number % 100)"
    }

    /// 15 or later.
    public var isSupported: Bool { major >= Self.oldestSupportedMajor }

    /// Failover slots (`CREATE_REPLICATION_SLOT … (FAILOVER)`, synchronized to
    /// standbys by `sync_replication_slots`): Postgres 17 and later.
    public var supportsFailoverSlots: Bool { major >= 17 }

    /// Logical decoding on a hot standby (a slot created on the standby): 16 and later.
    public var supportsStandbyDecoding: Bool { major >= 16 }

    /// Publications can publish stored generated columns
    /// (`publish_generated_columns`): 18 and later.
    public var publishesGeneratedColumns: Bool { major >= 18 }

    /// What this version offers WalBridge, one phrase each, for `validate` and `status`.
    public var capabilities: [String] {
        [
            "failover slots " + (supportsFailoverSlots ? "yes" : "no (Postgres 17+)"),
            "logical decoding on a standby " + (supportsStandbyDecoding ? "yes" : "no (Postgres 16+)"),
            "publishing generated columns " + (publishesGeneratedColumns ? "yes" : "no (Postgres 18+)"),
        ]
    }

    /// The refusal of a version below 15 (a configuration error: exit 2), or nil.
    public var unsupportedError: PostgresError? {
        guard !isSupported else { return nil }
        return PostgresError(kind: .configuration, message:
            "Postgres \(description) is not supported: WalBridge needs Postgres \(Self.oldestSupportedMajor) or later "
            + "(row filters and column lists in publications); upgrade the server")
    }

    public static func < (lhs: ServerVersion, rhs: ServerVersion) -> Bool { lhs.number < rhs.number }
}
