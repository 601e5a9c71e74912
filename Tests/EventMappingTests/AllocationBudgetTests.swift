@testable import EventMapping
import PostgresReplication
import CAllocationCounter
import Testing

/// Issue 7's regression guard for the hot path: allocations per decoded
/// pgoutput change message and per encoded event, on fixed input. Counts are
/// deterministic (no clocks, no timing), so this test cannot flake; a change
/// that adds allocations on the hot path fails it. When you remove
/// allocations, lower the budget to the new count.
///
/// Budgets are today's counts (debug build, Swift 6.3, glibc 2.36) plus a
/// margin of two, printed by the test so a new baseline is easy to read off.
/// Counted: `malloc`, `calloc` and `realloc` calls on the test's thread
/// (`CAllocationCounter`).
@Suite("Allocation budget of the hot path (issue 7)")
struct AllocationBudgetTests {
    /// Decode one Insert message (5 text columns) from borrowed bytes, as
    /// libpq hands them over, and assemble it into a typed `RowChange`.
    /// Measured 2026-11: 6 per insert (debug build, as CI runs it); 17
    /// before issue 7's decoder changes (the tuple no longer has a column array).
    static let decodeAndAssembleBudget = 8
    /// Map one `RowChange` of the bench table to its Kafka record (envelope,
    /// key, event id, headers). Measured 2026-11: 22 (debug build; the release
    /// build makes 10 for decode, assemble and map together: `walbridge-bench
    /// hotpath`). Was 42 before issue 7's JSON writer changes, 32 before the
    /// mapped columns' indexes were kept per relation, 25 before inserts were
    /// written straight from the row.
    static let mapBudget = 24

    static let relationID: UInt32 = 16_390

    @Test("decoding and assembling an insert stays within its allocation budget")
    func decodeAndAssemble() throws {
        let (messages, _) = try Self.fixture(rows: 64)
        var assembler = TransactionAssembler()
        let decoder = PgOutputDecoder()
        // Relation and Begin first (not counted), then the inserts.
        for message in messages.prefix(2) {
            _ = try message.withUnsafeBytes { try assembler.process(try decoder.decode($0)) }
        }
        // One insert uncounted, so lazily built globals are not counted.
        _ = try messages[2].withUnsafeBytes { try assembler.process(try decoder.decode($0)) }
        let inserts = messages.dropFirst(3).dropLast()
        var changes = 0
        let allocations = try MallocCounter.count {
            for message in inserts {
                let item = try message.withUnsafeBytes { try assembler.process(try decoder.decode($0)) }
                if case .change = item { changes += 1 }
            }
        }
        #expect(changes == inserts.count)
        let perMessage = Double(allocations) / Double(inserts.count)
        print("AllocationBudgetTests: \(perMessage) mallocs per decoded insert (budget \(Self.decodeAndAssembleBudget))")
        #expect(MallocCounter.isActive && allocations > 0, "the allocation counter is not active: are malloc & co. exported (Package.swift linkerSettings)?")
        #expect(perMessage <= Double(Self.decodeAndAssembleBudget))
    }

    @Test("mapping a change to a Kafka record stays within its allocation budget")
    func map() throws {
        let (messages, mapper) = try Self.fixture(rows: 64)
        var assembler = TransactionAssembler()
        let decoder = PgOutputDecoder()
        var changes: [RowChange] = []
        var transaction: TransactionInfo?
        for message in messages {
            switch try message.withUnsafeBytes({ try assembler.process(try decoder.decode($0)) }) {
            case .begin(let info)?: transaction = info
            case .change(let change)?: changes.append(change)
            default: break
            }
        }
        let info = try #require(transaction)
        _ = try mapper.map(changes.removeFirst(), transaction: info)  // warm-up, uncounted
        var bytes = 0
        let allocations = try MallocCounter.count {
            for change in changes {
                for record in try mapper.map(change, transaction: info) { bytes += record.value?.count ?? 0 }
            }
        }
        #expect(bytes > 300 * changes.count)
        let perEvent = Double(allocations) / Double(changes.count)
        print("AllocationBudgetTests: \(perEvent) mallocs per encoded event (budget \(Self.mapBudget))")
        #expect(MallocCounter.isActive && allocations > 0, "the allocation counter is not active: are malloc & co. exported (Package.swift linkerSettings)?")
        #expect(perEvent <= Double(Self.mapBudget))
    }

    /// The bench table's Relation, a Begin, `rows` inserts and a Commit, as pgoutput bytes.
    static func fixture(rows: Int) throws -> ([[UInt8]], EventMapper) {
        var messages: [[UInt8]] = []
        var relation: [UInt8] = [UInt8(ascii: "R")]
        append(&relation, relationID)
        relation += Array("public\0users\0d".utf8)
        let columns: [(String, UInt32)] = [("id", 20), ("username", 25), ("first_name", 25), ("last_name", 25), ("email", 25)]
        append(&relation, UInt16(columns.count))
        for (name, oid) in columns {
            relation.append(name == "id" ? 1 : 0)
            relation += Array(name.utf8) + [0]
            append(&relation, oid)
            append(&relation, UInt32.max)
        }
        messages.append(relation)
        var begin: [UInt8] = [UInt8(ascii: "B")]
        append(&begin, UInt64(0x1_6B37_4800))
        append(&begin, Int64(848_000_000_123_456))
        append(&begin, UInt32(1234))
        messages.append(begin)
        for id in 1...rows {
            var insert: [UInt8] = [UInt8(ascii: "I")]
            append(&insert, relationID)
            insert.append(UInt8(ascii: "N"))
            let values = ["\(id)", "user\(id)", "First", "Last", "user\(id)@example.com"]
            append(&insert, UInt16(values.count))
            for value in values {
                insert.append(UInt8(ascii: "t"))
                append(&insert, UInt32(value.utf8.count))
                insert += Array(value.utf8)
            }
            messages.append(insert)
        }
        var commit: [UInt8] = [UInt8(ascii: "C"), 0]
        append(&commit, UInt64(0x1_6B37_4800))
        append(&commit, UInt64(0x1_6B37_4830))
        append(&commit, Int64(848_000_000_123_456))
        messages.append(commit)
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
        let mapper = try EventMapper(configuration: configuration, systemID: "7441385066946674702", database: "walbridge_bench")
        return (messages, mapper)
    }

    static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.bigEndian) { out += $0 }
    }
}

/// Counts the allocator calls (`malloc`, `calloc`, `realloc`) made on the
/// calling thread, through the `CAllocationCounter` target: it defines the
/// allocator's entry points in the test executable (Package.swift exports
/// them, so every library's calls reach them) and counts per thread, so tests
/// running in parallel on other threads never disturb a measurement.
enum MallocCounter {
    static func count(_ body: () throws -> Void) rethrows -> Int {
        walbridge_allocation_counting_start()
        defer { _ = walbridge_allocation_counting_stop() }
        try body()
        let counts = walbridge_allocation_counting_stop()
        return counts.mallocs + counts.callocs + counts.reallocs
    }

    /// Whether the counter sees this process's allocations at all.
    static var isActive: Bool { walbridge_allocation_counter_active() != 0 }
}
