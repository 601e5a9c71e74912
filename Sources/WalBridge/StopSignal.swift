import Synchronization

/// A request to stop, shared between the signal handler thread and the pipeline.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    /// Asks the bridge to stop gracefully: stop reading, drain, checkpoint.
    public func request() { requested.store(true, ordering: .releasing) }

    /// True once a stop was requested.
    public var isRequested: Bool { requested.load(ordering: .acquiring) }
}
