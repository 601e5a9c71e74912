import CAllocationCounter

/// Counts the allocator calls (`malloc`, `calloc`, `realloc`) made on the
/// calling thread, through the `CAllocationCounter` target this executable
/// links (it defines the allocator's entry points and forwards to glibc).
/// Deterministic: the same code on the same input allocates the same number
/// of times.
enum AllocationCounter {
    /// The allocations `body` makes on the calling thread.
    static func count(_ body: () throws -> Void) rethrows -> Int {
        walbridge_allocation_counting_start()
        defer { _ = walbridge_allocation_counting_stop() }
        try body()
        let counts = walbridge_allocation_counting_stop()
        return counts.mallocs + counts.callocs + counts.reallocs
    }
}
