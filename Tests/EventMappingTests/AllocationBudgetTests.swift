@testable import EventMapping
import PostgresReplication
import HotPathFixture
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
/// (`AllocationCounter`), on `HotPathFixture`, the input `walbridge-bench hotpath` profiles.
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

    @Test("decoding and assembling an insert stays within its allocation budget")
    func decodeAndAssemble() throws {
        let messages = try HotPathFixture(rows: 64).messages
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
        let allocations = try AllocationCounter.count {
            for message in inserts {
                let item = try message.withUnsafeBytes { try assembler.process(try decoder.decode($0)) }
                if case .change = item { changes += 1 }
            }
        }
        #expect(changes == inserts.count)
        let perMessage = Double(allocations) / Double(inserts.count)
        print("AllocationBudgetTests: \(perMessage) mallocs per decoded insert (budget \(Self.decodeAndAssembleBudget))")
        #expect(AllocationCounter.isActive && allocations > 0, "the allocation counter is not active: are malloc & co. exported (Package.swift linkerSettings)?")
        #expect(perMessage <= Double(Self.decodeAndAssembleBudget))
    }

    @Test("mapping a change to a Kafka record stays within its allocation budget")
    func map() throws {
        let fixture = try HotPathFixture(rows: 64)
        let (messages, mapper) = (fixture.messages, fixture.mapper)
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
        let allocations = try AllocationCounter.count {
            for change in changes {
                for record in try mapper.map(change, transaction: info) { bytes += record.value?.count ?? 0 }
            }
        }
        #expect(bytes > 300 * changes.count)
        let perEvent = Double(allocations) / Double(changes.count)
        print("AllocationBudgetTests: \(perEvent) mallocs per encoded event (budget \(Self.mapBudget))")
        #expect(AllocationCounter.isActive && allocations > 0, "the allocation counter is not active: are malloc & co. exported (Package.swift linkerSettings)?")
        #expect(perEvent <= Double(Self.mapBudget))
    }
}
