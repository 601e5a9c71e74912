import PostgresReplication

/// Bounds the reconnections after a corrupt replication stream.
///
/// Bytes WalBridge cannot decode (or messages out of protocol order) end the
/// session like a dropped connection: the bridge reconnects and the walsender
/// streams again from the last delivered position, as a glitch on the path
/// (a proxy, a pooler, a bad NIC) is not there the second time. A walsender
/// that sends the same bad bytes every time must not be retried forever
/// without anyone noticing: after `limit` corrupt sessions in a row that
/// delivered nothing new, the bridge stops (exit 1) with a message that says so.
struct CorruptStreamRetries: Sendable {
    /// Corrupt sessions in a row, at the same delivered position, that end the bridge.
    let limit: Int
    /// Corrupt sessions since the delivered position last moved.
    private(set) var failures = 0
    private var position: LSN?

    init(limit: Int) { self.limit = max(1, limit) }

    /// Records a session that ended with the corrupt-stream error `error`,
    /// having delivered up to `delivered`. Returns the error to stop with when
    /// the limit is reached, nil when the bridge should reconnect.
    mutating func record(_ error: BridgeError, delivered: LSN?) -> BridgeError? {
        if let delivered, delivered > position ?? .zero { failures = 0 }
        failures += 1
        position = delivered
        guard failures >= limit else { return nil }
        let place = delivered.map { "after \($0)" } ?? "at the start"
        return BridgeError(code: .corruptStream, kind: .fatal, message:
            "\(error.message); the replication stream came back corrupt \(failures) times in a row \(place) without delivering anything new, so WalBridge stops rather than retry forever: check what sits between WalBridge and Postgres (proxies, poolers, the network) and the server's log, then start WalBridge again (it resumes from the checkpoint, which holds only transactions delivered whole)")
    }
}
