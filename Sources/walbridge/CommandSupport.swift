import ArgumentParser
import Configuration
import EventMapping
import Foundation
import Logging
import WalBridge

/// Helpers the subcommands share: loading the configuration, logging, signals.
enum CommandSupport {
    /// The exit status of a usage error and of a bad configuration (docs/operations.md, "Exit status").
    static let usageStatus: Int32 = 2

    /// Loads the configuration or exits with status 2 and the error's message.
    static func loadConfiguration(_ path: String) throws -> BridgeConfiguration {
        do {
            return try BridgeConfiguration.load(path: path, environment: ProcessInfo.processInfo.environment)
        } catch {
            fail("\(error)", status: 2)
        }
    }

    /// Sets up swift-log once: text or JSON lines on standard error. Every
    /// warning, error and critical line is also kept as the process's last
    /// problem (`LastProblemRecorder.shared`), which `GET /status` answers.
    static func bootstrapLogging(level: BridgeConfiguration.LogLevel, format: BridgeConfiguration.LogFormat) -> Logger {
        let logLevel = Logger.Level(rawValue: level.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            LastProblemLogHandler(wrapping: LineLogHandler(label: label, level: logLevel, format: format))
        }
        return Logger(label: "walbridge")
    }

    /// Writes one line to standard output at once (no buffering: other programs read it live).
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Prints `message` on standard error and exits with `status`.
    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data(("walbridge: " + message + "\n").utf8))
        exit(status)
    }

    /// Blocks SIGTERM and SIGINT in every thread (librdkafka's threads inherit
    /// the mask, so the signals cannot land there and be lost) and takes them on
    /// a dedicated thread: the first calls `first`, a second exits at once with
    /// status 130. Call before any librdkafka handle exists.
    static func handleTerminationSignals(first: @escaping @Sendable () -> Void) {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let blocked = signals
        let thread = Thread {
            var set = blocked
            var received = 0
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                received += 1
                if received == 1 {
                    first()
                } else {
                    FileHandle.standardError.write(Data("walbridge: second signal; exiting now without a final checkpoint\n".utf8))
                    _exit(130)
                }
            }
        }
        thread.start()
    }
}
