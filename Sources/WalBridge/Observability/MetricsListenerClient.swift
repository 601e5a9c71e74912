import Foundation

/// A small HTTP/1.1 client for a running bridge's metrics listener
/// (`metrics.listen`): one `GET` per connection, with a time limit on connecting
/// and on the answer, so `walbridge status --watch` keeps its beat when the
/// process hangs or is gone.
public struct MetricsListenerClient: Sendable {
    public let host: String
    public let port: Int
    /// How long connecting, and then reading the answer, may each take.
    public let timeout: Duration

    /// The most bytes of an answer read (a `/metrics` body is a few KiB).
    static let maximumResponseSize = 16 << 20

    public init(host: String, port: Int, timeout: Duration = .seconds(2)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// The client for `metrics.listen`: a wildcard address (`0.0.0.0`, `::`)
    /// is reached on the loopback address of its family. Nil when `listen` is not `host:port`.
    public init?(listen: String, timeout: Duration = .seconds(2)) {
        guard let address = Observability.parseListen(listen) else { return nil }
        let host = switch address.host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "::0": "::1"
        default: address.host
        }
        self.init(host: host, port: address.port, timeout: timeout)
    }

    /// `127.0.0.1:9187` or `[::1]:9187`.
    public var address: String { PosixSocket.addressText(host: host, port: port) }

    /// `GET path`: the status and the body.
    /// - Throws: `MetricsListenerError` saying why there is no answer (refused, timed out, not HTTP).
    public func get(_ path: String) throws(MetricsListenerError) -> (status: Int, body: String) {
        let fd = try connect()
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        guard PosixSocket.sendAll(fd, request) else {
            throw failure("cannot send the request: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while response.count < Self.maximumResponseSize {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                throw failure(errno == EAGAIN || errno == EWOULDBLOCK
                    ? "no answer within \(timeout.formatted(.units(allowed: [.seconds, .milliseconds])))" : "cannot read the answer: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        return try Self.parse(response, from: address)
    }

    /// The status and body of a whole `Connection: close` answer.
    static func parse(_ response: [UInt8], from address: String) throws(MetricsListenerError) -> (status: Int, body: String) {
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first,
              let status = Int(statusText), let split = text.range(of: "\r\n\r\n") else {
            throw MetricsListenerError(address: address, reason: response.isEmpty ? "the connection closed without an answer" : "not an HTTP answer: \(text.prefix(80))")
        }
        return (status, String(text[split.upperBound...]))
    }

    private func connect() throws(MetricsListenerError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = PosixSocket.streamType
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw failure("cannot resolve the host (\(String(cString: gai_strerror(resolved))))")
        }
        defer { freeaddrinfo(list) }
        var reason = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, PosixSocket.streamType, 0)
            guard fd >= 0 else { reason = String(cString: strerror(errno)); continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if let problem = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) {
                reason = problem
                close(fd)
                continue
            }
            var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        throw failure("cannot connect: \(reason)")
    }

    /// Connects `fd` within `timeout`; nil when connected, else why not.
    private func connect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Foundation.connect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&descriptor, 1, milliseconds)
        guard ready > 0 else { return ready == 0 ? "timed out" : String(cString: strerror(errno)) }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0 ? nil : String(cString: strerror(error))
    }

    private func failure(_ reason: String) -> MetricsListenerError {
        MetricsListenerError(address: address, reason: reason)
    }
}

/// No answer from the metrics listener: where, and why.
public struct MetricsListenerError: Error, CustomStringConvertible, Sendable, Equatable {
    public var address: String
    public var reason: String
    public var description: String { "\(address): \(reason)" }
}
