import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid` on its
/// own pid. The test harness uses this instead of Foundation's `Process`, whose
/// shared child-exit tracking can miss an exit when several tests start
/// processes at once (seen as `waitUntilExit` never returning).
final class ChildProcess {
    let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`, standard input from `stdin` (a file) and
    /// standard output and error appended to the given files.
    init(executable: String, arguments: [String], environment: [String: String], stdin: String = "/dev/null", stdout: String, stderr: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        Self.closeInheritedDescriptors(&actions)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard result == 0 else {
            throw TestFailure("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    /// Makes the child start with only 0, 1 and 2: without it, it inherits every
    /// descriptor of the test process not opened close-on-exec (the test
    /// broker's sockets among them), and a broker the test takes down keeps a
    /// connection open through the child. glibc 2.34+'s
    /// `posix_spawn_file_actions_addclosefrom_np` is declared only under
    /// `_GNU_SOURCE`, which Swift's Glibc module does not define, so it is
    /// looked up at run time; without it children inherit as before.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
    }

    /// True until the child has exited (and is reaped).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, written out (they are macros in C).
            let signal = status & 0x7f
            exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return false
        }
        return result == 0
    }

    /// The exit status (128 + n after signal n), once it has exited.
    var status: Int32? {
        _ = isRunning
        return exitStatus
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child to exit and returns its status.
    func wait(timeout: Duration) throws -> Int32 {
        try waitUntil("process \(pid) to exit", timeout: timeout, interval: .milliseconds(20)) { !isRunning }
        return exitStatus!
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
