import Foundation

/// The few socket calls the metrics listener and its client share, written
/// once: the stream socket type, a whole-buffer send that never raises
/// SIGPIPE, and how a host and port are written.
enum PosixSocket {
    /// `host:port`, with an IPv6 host in brackets (`[::1]:9187`).
    static func addressText(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Sends all of `bytes` on `fd`, retrying after EINTR; false when the
    /// socket failed first (`errno` says why).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { sendNoSignal(fd, $0.baseAddress! + sent, bytes.count - sent) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    #if canImport(Glibc)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    private static func sendNoSignal(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
    }
    #else
    static let streamType = SOCK_STREAM
    private static func sendNoSignal(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        return Darwin.send(fd, pointer, count, 0)
    }
    #endif
}
