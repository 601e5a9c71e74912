import Configuration
import EventMapping
import Foundation
import Logging
import Synchronization
import WalBridge

/// A `Bridge` running on its own thread, as `walbridge run` runs it, that a
/// test can stop gracefully and wait for.
final class RunningBridge: Sendable {
    let stop = StopSignal()
    private let finished = DispatchSemaphore(value: 0)
    private let outcome = Mutex<BridgeError?>(nil)
    private let returned = Atomic<Bool>(false)

    /// `logger`: where the bridge logs (default: the process's logging system at info level).
    init(configuration: BridgeConfiguration, options: BridgeOptions = BridgeOptions(), label: String = "test-bridge",
         logger: Logger? = nil) {
        var configuredLogger = Logger(label: label)
        configuredLogger.logLevel = .info
        let logger = logger ?? configuredLogger
        let thread = Thread { [self] in
            let bridge = Bridge(configuration: configuration, options: options, stop: stop, logger: logger)
            do throws(BridgeError) {
                try bridge.run()
            } catch {
                outcome.withLock { $0 = error }
            }
            returned.store(true, ordering: .releasing)
            finished.signal()
        }
        thread.start()
    }

    /// True once `run()` returned.
    var isFinished: Bool { returned.load(ordering: .acquiring) }

    /// Requests a graceful stop and waits for the bridge to return.
    /// - Returns: the error it failed with, or nil for a clean stop.
    @discardableResult
    func stopAndWait(timeout: Duration = .seconds(30)) throws -> BridgeError? {
        stop.request()
        return try wait(timeout: timeout)
    }

    /// Waits for the bridge to return on its own (after a fatal error).
    func wait(timeout: Duration) throws -> BridgeError? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard finished.wait(timeout: .now() + seconds) == .success else {
            throw TestFailure("the bridge did not stop within \(timeout)")
        }
        return outcome.withLock { $0 }
    }
}
