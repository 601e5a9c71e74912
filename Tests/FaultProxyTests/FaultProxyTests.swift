import FaultProxy
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The soak's fault proxy against a loopback echo server: bytes pass intact,
/// latency delays them, a stall keeps the socket open and passes nothing until
/// it ends, a reset reaches the client as ECONNRESET, and a cut refuses only new
/// connections.
@Suite("Fault proxy", .serialized)
struct FaultProxyTests {
    @Test("pass: 1 MiB goes through and back intact")
    func passesBytes() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let proxy = try FaultProxy(upstreamPort: echo.port)
        defer { proxy.stop() }
        let client = try TestSocket(port: proxy.port)
        let payload = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try client.send(payload)
        let echoed = try client.receive(count: payload.count, timeout: .seconds(10))
        #expect(echoed == payload)
        #expect(proxy.acceptedConnections == 1)
    }

    @Test("latency: a round trip takes at least twice the added delay")
    func addsLatency() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let proxy = try FaultProxy(upstreamPort: echo.port)
        defer { proxy.stop() }
        let client = try TestSocket(port: proxy.port)
        try client.send([1])
        _ = try client.receive(count: 1, timeout: .seconds(5))
        proxy.setMode(.latency(milliseconds: 150))
        let start = ContinuousClock.now
        try client.send([2, 3, 4])
        let answer = try client.receive(count: 3, timeout: .seconds(5))
        let elapsed = ContinuousClock.now - start
        #expect(answer == [2, 3, 4])
        #expect(elapsed >= .milliseconds(300), "round trip took \(elapsed)")
    }

    @Test("stall: nothing passes and nothing closes until the mode changes, then the bytes arrive")
    func stalls() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let proxy = try FaultProxy(upstreamPort: echo.port)
        defer { proxy.stop() }
        let client = try TestSocket(port: proxy.port)
        try client.send([7])
        #expect(try client.receive(count: 1, timeout: .seconds(5)) == [7])
        proxy.setMode(.stall)
        try client.send(Array("during the stall".utf8))
        // Neither data nor EOF nor an error for 1.5 s: the path is half-open.
        #expect(client.waitReadable(milliseconds: 1_500) == false)
        #expect(echo.bytesReceived == 1, "the server got bytes sent during the stall")
        #expect(proxy.openConnections == 1)
        proxy.setMode(.pass)
        #expect(try client.receive(count: 16, timeout: .seconds(5)) == Array("during the stall".utf8))
    }

    @Test("reset: the client's next read fails with ECONNRESET, and new connections work")
    func resets() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let proxy = try FaultProxy(upstreamPort: echo.port)
        defer { proxy.stop() }
        let client = try TestSocket(port: proxy.port)
        try client.send([1])
        _ = try client.receive(count: 1, timeout: .seconds(5))
        #expect(proxy.resetConnections() == 1)
        #expect(client.readOutcome(timeout: .seconds(5)) == .reset)
        let again = try TestSocket(port: proxy.port)
        try again.send([9])
        #expect(try again.receive(count: 1, timeout: .seconds(5)) == [9])
    }

    @Test("cut: new connections are reset at once, the open one keeps working")
    func cuts() throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let proxy = try FaultProxy(upstreamPort: echo.port)
        defer { proxy.stop() }
        let open = try TestSocket(port: proxy.port)
        try open.send([1])
        _ = try open.receive(count: 1, timeout: .seconds(5))
        proxy.setMode(.cut)
        let refused = try TestSocket(port: proxy.port)
        #expect(refused.readOutcome(timeout: .seconds(5)) == .reset)
        #expect(proxy.refusedConnections == 1)
        try open.send([2])
        #expect(try open.receive(count: 1, timeout: .seconds(5)) == [2])
        proxy.setMode(.pass)
        let later = try TestSocket(port: proxy.port)
        try later.send([3])
        #expect(try later.receive(count: 1, timeout: .seconds(5)) == [3])
    }
}

struct SocketFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "\(description): \(String(cString: strerror(errno)))" }
}

/// A blocking client socket on 127.0.0.1.
final class TestSocket {
    enum Outcome: Equatable { case data, eof, reset, other(Int32), timeout }
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw SocketFailure("connect") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard result > 0 else { throw SocketFailure("send") }
            sent += result
        }
    }

    func waitReadable(milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    func receive(count: Int, timeout: Duration) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < count {
            guard ContinuousClock.now < deadline else { throw SocketFailure("timed out after \(bytes.count) of \(count) bytes") }
            guard waitReadable(milliseconds: 50) else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - bytes.count), 0) }
            guard n > 0 else { throw SocketFailure("recv returned \(n)") }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    func readOutcome(timeout: Duration) -> Outcome {
        guard waitReadable(milliseconds: Int32(timeout.components.seconds * 1000)) else { return .timeout }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        if n > 0 { return .data }
        if n == 0 { return .eof }
        return errno == ECONNRESET ? .reset : .other(errno)
    }
}

/// Echoes every byte back on each accepted connection; counts what it received.
final class EchoServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let received = Atomic<Int>(0)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw SocketFailure("echo server: listen") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread { [self] in echo(connection) }.start()
            }
        }.start()
    }

    var bytesReceived: Int { received.load(ordering: .acquiring) }

    private func echo(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            received.add(n, ordering: .relaxed)
            var sent = 0
            while sent < n {
                let result = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                guard result > 0 else { close(fd); return }
                sent += result
            }
        }
        close(fd)
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
