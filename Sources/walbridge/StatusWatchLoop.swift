import Configuration
import Foundation
import WalBridge

/// `walbridge status --watch`: a frame every second until SIGINT or SIGTERM,
/// then exit 0. On a terminal each frame replaces the last (the alternate
/// screen, restored on exit, where the last frame is printed once more so it
/// stays on screen); otherwise plain frames, each followed by a blank line,
/// with no escape sequences (`status --watch | tee watch.log`).
enum StatusWatchLoop {
    static let enterScreen = "\u{1B}[?1049h\u{1B}[?25l"
    static let clearAndHome = "\u{1B}[H\u{1B}[2J"
    static let leaveScreen = "\u{1B}[?25h\u{1B}[?1049l"

    static func run(_ configuration: BridgeConfiguration, interval: Duration = .seconds(1)) -> Never {
        let stop = StopSignal()
        CommandSupport.handleTerminationSignals { stop.request() }
        let terminal = isatty(STDOUT_FILENO) == 1
        let sampler = StatusWatchSampler(configuration: configuration)
        var previous: StatusWatchSample?
        var frame = ""
        while !stop.isRequested {
            let started = ContinuousClock.now
            let sample = sampler.sample()
            if previous == nil {
                // What the database refuses (a wrong password, a missing database) is a bad configuration: exit 2 before any frame.
                if case .failure(let error) = sample.slot, error.exitCode == CommandSupport.usageStatus {
                    CommandSupport.fail(error.message, status: error.exitCode)
                }
                if terminal { write(enterScreen) }
            }
            frame = StatusWatchFrame.render(previous: previous, current: sample)
            write(terminal ? clearAndHome + frame + "\n" : frame + "\n\n")
            previous = sample
            let deadline = started + interval
            while !stop.isRequested, ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        if terminal && previous != nil {
            write(leaveScreen + frame + "\n")
        }
        exit(0)
    }

    /// One `write` per frame, so a reader never sees half of one.
    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
