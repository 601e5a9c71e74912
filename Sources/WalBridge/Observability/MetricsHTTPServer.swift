import Foundation
import Synchronization

/// One HTTP request as the metrics listener sees it: the method and the path without its query.
struct HTTPRequest: Sendable, Hashable {
    var method: String
    var path: String

    /// Parses the request line of `head` (`GET /metrics?x HTTP/1.1`); nil when it is not one.
    init?(head: String) {
        guard let line = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else { return nil }
        method = String(parts[0])
        path = String(parts[1].prefix { $0 != "?" })
    }

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }
}

/// The answer to one request.
struct HTTPResponse: Sendable {
    var status: Int
    var contentType = "text/plain; charset=utf-8"
    var body: [UInt8]

    init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    init(status: Int, text: String) {
        self.init(status: status, body: Array(text.utf8))
    }

    var reason: String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 503: "Service Unavailable"
        default: "Error"
        }
    }

    func encoded(includeBody: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        if status == 405 { head += "Allow: GET, HEAD\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }
}

/// A small HTTP/1.1 listener for `/metrics`, `/healthz`, `/readyz` and `/status`: one
/// POSIX socket, one thread, one request per connection (`Connection: close`).
/// docs/architecture.md ("Threads and lifecycle") says why it is not built on
/// swift-nio.
///
/// Scrapes are rare and cheap, so requests are served one after another; a
/// client that sends nothing is dropped after two seconds. It runs as a
/// `BackgroundService` (of the observability `ServiceGroup`); the socket is
/// closed when `run` returns, or when the server goes away unstarted.
final class MetricsHTTPServer: BackgroundService {
    let name = "walbridge-metrics-http"
    /// The port actually bound (differs from the requested one when that was 0).
    let port: Int
    let host: String
    private let listener: Int32
    private let closed = Atomic<Bool>(false)
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse

    /// Binds and listens on `host:port` (port 0 picks a free one).
    /// - Throws: `BridgeError` (`.fatal`) naming the address and the system's reason.
    init(host: String, port: Int, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(BridgeError) {
        self.host = host
        self.handler = handler
        let display = PosixSocket.addressText(host: host, port: port)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = PosixSocket.streamType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw BridgeError(.configuration,
                "metrics.listen \(display): cannot resolve the host (\(String(cString: gai_strerror(resolved)))); write an address such as 127.0.0.1:9187 or [::1]:9187")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var bound: Int32 = -1
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, PosixSocket.streamType, 0)
            if fd < 0 { lastError = errno; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, 16) == 0 {
                bound = fd
                break
            }
            lastError = errno
            close(fd)
        }
        guard bound >= 0 else {
            throw BridgeError(.fatal,
                "cannot listen on metrics.listen \(display): \(String(cString: strerror(lastError))); choose a free port or stop what uses it")
        }
        _ = fcntl(bound, F_SETFD, FD_CLOEXEC)
        listener = bound
        self.port = Self.localPort(of: bound) ?? port
    }

    deinit { closeListener() }

    /// Serves until a stop is requested (checked at least every 100 ms, and
    /// after the request in progress, which a silent client holds at most two
    /// seconds), then closes the socket.
    func run(_ stop: StopToken) {
        defer { closeListener() }
        while !stop.isRequested {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            guard ready > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func closeListener() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        close(listener)
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !Self.headIsComplete(head) {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            head.append(contentsOf: buffer[0..<count])
        }
        send(client, Self.respond(toHead: head, handler: handler))
    }

    /// The most bytes of a request head read; a longer head is answered as it stands.
    static let maximumHeadSize = 8192

    /// Whether `head`, the bytes received so far, is all that is read of the
    /// request: it holds the blank line that ends an HTTP head, or is at the size limit.
    static func headIsComplete(_ head: [UInt8]) -> Bool {
        head.count >= maximumHeadSize || contains(head, [13, 10, 13, 10])
    }

    /// The encoded response to the request whose head (as received) is `head`.
    static func respond(toHead head: [UInt8], handler: (HTTPRequest) -> HTTPResponse) -> [UInt8] {
        let response: HTTPResponse
        var includeBody = true
        if let request = HTTPRequest(head: String(decoding: head, as: UTF8.self)) {
            if request.method == "GET" || request.method == "HEAD" {
                includeBody = request.method == "GET"
                response = handler(HTTPRequest(method: "GET", path: request.path))
            } else {
                response = HTTPResponse(status: 405, text: "only GET and HEAD are served\n")
            }
        } else {
            response = HTTPResponse(status: 400, text: "not an HTTP/1.x request\n")
        }
        return response.encoded(includeBody: includeBody)
    }

    private func send(_ client: Int32, _ bytes: [UInt8]) {
        _ = PosixSocket.sendAll(client, bytes)  // a client that went away has nothing more to get
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
            return true
        }
        return false
    }

    private static func localPort(of fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default:
            return nil
        }
    }
}
