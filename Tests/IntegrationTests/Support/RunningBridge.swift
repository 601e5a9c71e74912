import Configuration
import EventMapping
import Foundation
import Logging
import WalBridge

/// A `Bridge` running on its own thread, as `walbridge run` runs it, that a
/// test can stop gracefully and wait for: a `BackgroundService` of a
/// `ServiceGroup` of its own, stopped with the group's deadline.
final class RunningBridge: Sendable {
    let stop = StopSignal()
    private let group: ServiceGroup

    /// `logger`: where the bridge logs (default: the process's logging system at info level).
    init(configuration: BridgeConfiguration, options: BridgeOptions = BridgeOptions(), label: String = "test-bridge",
         logger: Logger? = nil) {
        var configuredLogger = Logger(label: label)
        configuredLogger.logLevel = .info
        let logger = logger ?? configuredLogger
        group = ServiceGroup(label: label, stopDeadline: .seconds(30), logger: logger)
        group.start([BridgeService(configuration: configuration, options: options, stop: stop, logger: logger)])
    }

    /// True once `run()` returned.
    var isFinished: Bool { !group.isRunning }

    /// Requests a graceful stop and waits for the bridge to return.
    /// - Returns: the error it failed with, or nil for a clean stop.
    @discardableResult
    func stopAndWait(timeout: Duration = .seconds(30)) throws -> BridgeError? {
        guard group.stop(deadline: timeout).notStopped.isEmpty else {
            throw TestFailure("the bridge did not stop within \(timeout)")
        }
        return group.failure
    }

    /// Waits for the bridge to return on its own (after a fatal error).
    func wait(timeout: Duration) throws -> BridgeError? {
        guard group.waitUntilFinished(timeout: timeout) else {
            throw TestFailure("the bridge did not stop within \(timeout)")
        }
        return group.failure
    }
}

/// `Bridge.run()` as a background component: a stop request is the bridge's `StopSignal`.
private struct BridgeService: BackgroundService {
    let name = "walbridge-test-bridge"
    let configuration: BridgeConfiguration
    let options: BridgeOptions
    let stop: StopSignal
    let logger: Logger

    func run(_ token: StopToken) throws(BridgeError) {
        if token.isRequested { return }
        try Bridge(configuration: configuration, options: options, stop: stop, logger: logger).run()
    }

    func wake() {
        stop.request()
    }
}
