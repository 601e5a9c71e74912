import Foundation
import PostgresReplication
import Synchronization

/// SQL running on its own connection and thread while a test does other things
/// (for example kills the bridge mid-workload).
final class BackgroundSQL: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)

    init(database: String, _ sql: String) {
        let conninfo = TestDatabase.adminConninfo(database: database)
        let thread = Thread { [self] in
            do {
                let connection = try PostgresConnection(url: conninfo, replication: false)
                try connection.query(sql)
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
        thread.start()
    }

    /// Waits for the SQL to finish and throws if it failed.
    func wait(timeout: Duration = .seconds(120)) throws {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard finished.wait(timeout: .now() + seconds) == .success else {
            throw TestFailure("background SQL did not finish within \(timeout)")
        }
        if let message = failure.withLock({ $0 }) { throw TestFailure("background SQL failed: \(message)") }
    }
}

extension ReceivedEvent {
    var username: String? { data?["username"] as? String }
    var commitLSN: LSN? { (source?["lsn"] as? String).flatMap { LSN($0) } }
}

/// Groups events by username, the natural identity of the test rows.
func eventsByUsername(_ events: [ReceivedEvent]) -> [String: [ReceivedEvent]] {
    Dictionary(grouping: events.filter { $0.username != nil }, by: { $0.username! })
}
