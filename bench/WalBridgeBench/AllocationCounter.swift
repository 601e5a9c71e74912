#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Counts `malloc` calls made on one thread (Swift's heap objects, arrays and
/// strings all come from `malloc`), by defining `malloc` in this executable:
/// the dynamic linker resolves every library's `malloc` to it, and it forwards
/// to glibc's `__libc_malloc`. Deterministic: the same code on the same input
/// allocates the same number of times.
enum AllocationCounter {
    fileprivate static let counted = Atomic<Int>(0)
    /// `pthread_self()` of the thread being counted; 0 = none.
    fileprivate static let countedThread = Atomic<UInt>(0)

    /// The `malloc` calls `body` makes on the calling thread.
    static func count(_ body: () throws -> Void) rethrows -> Int {
        counted.store(0, ordering: .relaxed)
        countedThread.store(UInt(pthread_self()), ordering: .relaxed)
        defer { countedThread.store(0, ordering: .relaxed) }
        try body()
        return counted.load(ordering: .relaxed)
    }
}

@_silgen_name("__libc_malloc")
private func libcMalloc(_ size: Int) -> UnsafeMutableRawPointer?

/// The process's `malloc`: counts, then forwards to glibc. Must not allocate.
@_cdecl("malloc")
public func countingMalloc(_ size: Int) -> UnsafeMutableRawPointer? {
    if AllocationCounter.countedThread.load(ordering: .relaxed) == UInt(pthread_self()) {
        AllocationCounter.counted.wrappingAdd(1, ordering: .relaxed)
    }
    return libcMalloc(size)
}
