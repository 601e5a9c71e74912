import Foundation
import PostgresReplication
import Synchronization
#if canImport(Glibc)
import Glibc
import SeededRandom
#endif

/// What the workload knows committed: per table, each live key's version
/// (1 at insert, +1 per update) and each deleted key's version at its delete.
/// Uncertain commits (connection lost around COMMIT) are settled by reading
/// `soak_commits`, which every transaction writes its number to.
struct Model: Sendable {
    var live: [[Int64: Int32]] = [[:], [:]]
    var deleted: [[Int64: Int32]] = [[:], [:]]
    var transactions = 0
    var changes = 0
    var uncertain = 0
    var uncertainCommitted = 0
    var bulkTransactions = 0
    var failedQueries: [String] = []
}

/// The soak's two tables: index 0 `users`, 1 `orders`.
let tableNames = ["users", "orders"]

/// The mixed workload: single-row inserts, updates and deletes on both tables,
/// small multi-row transactions, and every 80–140 s one of ~50,000 rows.
/// Runs on its own thread with its own connection until ``stop()``.
final class Workload: Sendable {
    private let url: String
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex(Model())
    private let seed: UInt64
    private let note: @Sendable (String) -> Void

    init(url: String, seed: UInt64, note: @escaping @Sendable (String) -> Void) {
        self.url = url
        self.seed = seed
        self.note = note
    }

    func start() { Thread { [self] in run() }.start() }

    /// Stops after the transaction under way (settled) and returns the model.
    func stop() -> Model {
        stopping.store(true, ordering: .releasing)
        done.wait()
        return result.withLock { $0 }
    }

    private let committedCount = Atomic<Int>(0)
    /// Transactions committed so far.
    var committedTransactions: Int { committedCount.load(ordering: .relaxed) }

    private enum Change { case upsert(table: Int, id: Int64, version: Int32), delete(table: Int, id: Int64, version: Int32) }

    private func run() {
        var random = SplitMix64(seed: seed ^ 0x5EED_0F_5041)
        var model = Model()
        var connection: PostgresConnection?
        var nextID: [Int64] = [1, 1]
        var nextTransaction: Int64 = 1
        var nextBulk = 25.0
        var bulkKind = 0
        var first = true

        func connect() -> PostgresConnection {
            while true {
                if let c = try? PostgresConnection(url: url, replication: false, applicationName: "walbridge-soak-workload", connectTimeoutSeconds: 5) {
                    return c
                }
                usleep(200_000)
            }
        }
        func pick(_ table: Int) -> Int64? {
            let upper = nextID[table]
            guard upper > 1 else { return nil }
            for _ in 0..<8 {
                let id = Int64(random.int(1...Int(upper - 1)))
                if model.live[table][id] != nil { return id }
            }
            return model.live[table].keys.first
        }
        func insertSQL(_ table: Int, _ id: Int64) -> String {
            table == 0
                ? "INSERT INTO users (id, username, email, password_hash, first_name, last_name, version) VALUES (\(id), 'u\(id)', 'u\(id)@example.com', 'h', 'F', 'L\(random.int(0...999))', 1) RETURNING id, version"
                : "INSERT INTO orders (id, user_id, amount, version, note) VALUES (\(id), \(random.int(1...1000)), \(random.int(1...99_999)), 1, 'n\(random.int(0...999))') RETURNING id, version"
        }
        func singleStatement(_ table: Int) -> (sql: String, deletes: Bool)? {
            let op = random.int(0...99)
            if op < 40 || nextID[table] == 1 {
                let id = nextID[table]; nextID[table] += 1
                return (insertSQL(table, id), false)
            }
            guard let id = pick(table) else { return nil }
            if op < 85 {
                let set = table == 0 ? "last_name = 'L\(random.int(0...999))'" : "amount = \(random.int(1...99_999)), note = 'n\(random.int(0...999))'"
                return ("UPDATE \(tableNames[table]) SET version = version + 1, \(set) WHERE id = \(id) RETURNING id, version", false)
            }
            return ("DELETE FROM \(tableNames[table]) WHERE id = \(id) RETURNING id, version", true)
        }

        while !stopping.load(ordering: .acquiring) {
            var statements: [(sql: String, deletes: Bool, table: Int)] = []
            if first {
                // A population to update and back-fill from the start: 20,000 users.
                let start = nextID[0]; nextID[0] += 20_000
                statements.append(("INSERT INTO users (id, username, email, password_hash, version) SELECT g, 'u' || g, 'u' || g || '@example.com', 'h', 1 FROM generate_series(\(start), \(start + 19_999)) g RETURNING id, version", false, 0))
                first = false
            } else if elapsed() >= nextBulk {
                nextBulk = elapsed() + Double(random.int(80...140))
                switch bulkKind % 4 {
                case 0:
                    let start = nextID[1]; nextID[1] += 50_000
                    statements.append(("INSERT INTO orders (id, user_id, amount, version, note) SELECT g, g % 1000, g % 99991, 1, 'bulk' FROM generate_series(\(start), \(start + 49_999)) g RETURNING id, version", false, 1))
                case 1:
                    statements.append(("UPDATE users SET version = version + 1, first_name = 'B\(random.int(0...999))' WHERE id IN (SELECT id FROM users ORDER BY id LIMIT 50000) RETURNING id, version", false, 0))
                case 2:
                    statements.append(("UPDATE orders SET version = version + 1, amount = amount + 1 WHERE id IN (SELECT id FROM orders ORDER BY id DESC LIMIT 50000) RETURNING id, version", false, 1))
                default:
                    statements.append(("DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 50000) RETURNING id, version", true, 1))
                }
                bulkKind += 1
                model.bulkTransactions += 1
            } else {
                let count = random.int(0...9) == 0 ? random.int(2...20) : 1
                for _ in 0..<count {
                    let table = random.int(0...1)
                    if let s = singleStatement(table) { statements.append((s.sql, s.deletes, table)) }
                }
            }
            guard !statements.isEmpty else { continue }
            let number = nextTransaction; nextTransaction += 1
            var changes: [Change] = []
            var connectionLost = false
            if connection == nil { connection = connect() }
            do throws(PostgresError) {
                _ = try connection!.query("BEGIN")
                for statement in statements {
                    let rows = try connection!.query(statement.sql).rows
                    for row in rows {
                        guard let id = row[0].flatMap({ Int64($0) }), let version = row[1].flatMap({ Int32($0) }) else { continue }
                        changes.append(statement.deletes ? .delete(table: statement.table, id: id, version: version)
                                                         : .upsert(table: statement.table, id: id, version: version))
                    }
                }
                _ = try connection!.query("INSERT INTO soak_commits (tx) VALUES (\(number))")
                _ = try connection!.query("COMMIT")
            } catch {
                // A connection the server closed does not always say so in the error's
                // kind or libpq's status: a ROLLBACK that fails too means it is gone,
                // and then the commit is settled below.
                if error.kind == .unreachable || !connection!.isOK || (try? connection!.query("ROLLBACK")) == nil {
                    connectionLost = true
                } else {
                    model.failedQueries.append("\(error)")
                    continue
                }
            }
            var committed = !connectionLost
            if connectionLost {
                model.uncertain += 1
                connection = nil
                while true {
                    connection = connect()
                    if let rows = try? connection!.query("SELECT 1 FROM soak_commits WHERE tx = \(number)").rows {
                        committed = !rows.isEmpty
                        break
                    }
                    connection = nil
                }
                if committed { model.uncertainCommitted += 1 }
            }
            guard committed else { continue }
            model.transactions += 1
            model.changes += changes.count
            for change in changes {
                switch change {
                case .upsert(let table, let id, let version): model.live[table][id] = version
                case .delete(let table, let id, let version):
                    model.live[table][id] = nil
                    model.deleted[table][id] = version
                }
            }
            committedCount.store(model.transactions, ordering: .relaxed)
            usleep(UInt32(random.int(2_000...8_000)))
        }
        result.withLock { $0 = model }
        done.signal()
    }
}
