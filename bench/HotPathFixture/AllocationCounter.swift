import CAllocationCounter

/// Counts the allocator calls (`malloc`, `calloc`, `realloc`) made on the
/// calling thread, through `CAllocationCounter` (it defines the allocator's
/// entry points in the program that links it, forwards them to glibc and
/// counts per thread, so other threads never disturb a measurement).
/// Deterministic: the same code on the same input allocates the same number of times.
public enum AllocationCounter {
    /// The allocations `body` makes on the calling thread.
    public static func count(_ body: () throws -> Void) rethrows -> Int {
        walbridge_allocation_counting_start()
        defer { _ = walbridge_allocation_counting_stop() }
        try body()
        let counts = walbridge_allocation_counting_stop()
        return counts.mallocs + counts.callocs + counts.reallocs
    }

    /// Whether the counter sees this process's allocations at all (the
    /// program must export the allocator symbols; see Package.swift).
    public static var isActive: Bool { walbridge_allocation_counter_active() != 0 }
}
