import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP proxy that injects network faults between a client and a
/// server (WalBridge and Postgres in the soak, a client and an echo server in
/// its tests), switchable at run time:
///
/// - ``Mode/pass``: bytes go through as they come;
/// - ``Mode/latency(milliseconds:)``: every chunk is held that long, each
///   direction queued on its own (so throughput is not cut, only delayed);
/// - ``Mode/stall``: both directions stop reading and writing, sockets stay
///   open: no FIN, no RST, what a half-open path after a NAT or firewall drops
///   state looks like from either end. New connections are accepted and stall too;
/// - ``Mode/cut``: new connections are closed at once with a reset; open ones go on.
///
/// ``resetConnections()`` closes every open connection with a TCP reset
/// (`SO_LINGER` 0). The sockets never leave this type; each connection is two
/// pumps (reader and writer) per direction, on threads of their own.
public final class FaultProxy: Sendable {
    /// What the proxy does to the bytes (see the type's comment).
    public enum Mode: Sendable, Equatable, CustomStringConvertible {
        case pass
        case latency(milliseconds: Int)
        case stall
        case cut

        public var description: String {
            switch self {
            case .pass: "pass"
            case .latency(let ms): "latency \(ms) ms"
            case .stall: "stall"
            case .cut: "cut"
            }
        }
    }

    /// Why the proxy could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The loopback port clients connect to.
    public let port: UInt16
    private let upstreamPort: UInt16
    private let listener: Int32
    private let mode = Mutex(Mode.pass)
    private let connections = Mutex<[ObjectIdentifier: ProxiedConnection]>([:])
    private let counters = Mutex((accepted: 0, refused: 0, reset: 0))
    private let stopping = Atomic<Bool>(false)

    /// Listens on 127.0.0.1 (port 0: any free port) and forwards to 127.0.0.1:`upstreamPort`.
    public init(upstreamPort: UInt16, listenPort: UInt16 = 0) throws(StartError) {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "fault proxy: socket() failed: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: listenPort)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StartError(description: "fault proxy: cannot listen on 127.0.0.1:\(listenPort): \(reason); choose another port")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    /// The current mode.
    public var currentMode: Mode { mode.withLock { $0 } }

    /// Switches the mode; open connections follow it at once (a stall ends
    /// when the mode changes away from ``Mode/stall``).
    public func setMode(_ newMode: Mode) { mode.withLock { $0 = newMode } }

    /// Connections open now.
    public var openConnections: Int { connections.withLock { $0.count } }
    /// Connections accepted and forwarded since the start.
    public var acceptedConnections: Int { counters.withLock { $0.accepted } }
    /// Connections closed at once because the mode was ``Mode/cut`` (or the server was unreachable).
    public var refusedConnections: Int { counters.withLock { $0.refused } }
    /// Connections closed by ``resetConnections()``.
    public var resetConnectionCount: Int { counters.withLock { $0.reset } }

    /// Closes every open connection on both sides with a TCP reset; returns how many.
    @discardableResult
    public func resetConnections() -> Int {
        let open = connections.withLock { Array($0.values) }
        for connection in open { connection.reset() }
        counters.withLock { $0.reset += open.count }
        return open.count
    }

    /// Stops accepting and resets every connection. Idempotent.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for connection in connections.withLock({ Array($0.values) }) { connection.reset() }
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    /// Closes `fd` so that the peer gets a RST, not a FIN.
    static func closeWithReset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    private func acceptLoop() {
        while !stopping.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            if currentMode == .cut {
                counters.withLock { $0.refused += 1 }
                Self.closeWithReset(client)
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                counters.withLock { $0.refused += 1 }
                Self.closeWithReset(client)
                close(server)
                continue
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            counters.withLock { $0.accepted += 1 }
            let connection = ProxiedConnection(client: client, server: server, mode: { [self] in currentMode }) { [self] finished in
                _ = connections.withLock { $0.removeValue(forKey: ObjectIdentifier(finished)) }
            }
            connections.withLock { $0[ObjectIdentifier(connection)] = connection }
            connection.start()
        }
    }
}

/// One client connection and its server connection: per direction a reader
/// (which queues chunks with the time they may be sent) and a writer. The last
/// of the four pumps to end closes both sockets (with a reset after
/// ``reset()``, else normally).
final class ProxiedConnection: Sendable {
    private struct State {
        var queues: [[(due: ContinuousClock.Instant, bytes: [UInt8])]] = [[], []]
        var readerDone = [false, false]
        var pumpsRunning = 4
        var resetRequested = false
    }

    private let sockets: [Int32]  // [client, server]; direction 0 is client → server
    private let mode: @Sendable () -> FaultProxy.Mode
    private let onFinish: @Sendable (ProxiedConnection) -> Void
    private let state = Mutex(State())
    private let wakeups = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]

    init(client: Int32, server: Int32, mode: @escaping @Sendable () -> FaultProxy.Mode,
         onFinish: @escaping @Sendable (ProxiedConnection) -> Void) {
        sockets = [client, server]
        self.mode = mode
        self.onFinish = onFinish
    }

    func start() {
        for direction in 0..<2 {
            Thread { [self] in read(direction); pumpEnded() }.start()
            Thread { [self] in write(direction); pumpEnded() }.start()
        }
    }

    /// Makes every pump stop; the last one closes both sockets with a reset.
    func reset() {
        state.withLock { $0.resetRequested = true }
        // SHUT_RD sends nothing to the peer; it only wakes a blocked reader.
        for fd in sockets { shutdown(fd, Int32(SHUT_RD)) }
        for wakeup in wakeups { wakeup.signal() }
    }

    private var resetRequested: Bool { state.withLock { $0.resetRequested } }

    private func pumpEnded() {
        let (last, resetting) = state.withLock { state -> (Bool, Bool) in
            state.pumpsRunning -= 1
            return (state.pumpsRunning == 0, state.resetRequested)
        }
        guard last else { return }
        for fd in sockets {
            if resetting { FaultProxy.closeWithReset(fd) } else { close(fd) }
        }
        onFinish(self)
    }

    private func read(_ direction: Int) {
        let source = sockets[direction]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !resetRequested {
            let current = mode()
            if current == .stall { usleep(20_000); continue }
            var descriptor = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 50)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            // The mode may have turned to stall while waiting: then do not read.
            if mode() == .stall { continue }
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            var delay = Duration.zero
            if case .latency(let ms) = mode() { delay = .milliseconds(ms) }
            let chunk = Array(buffer[0..<count])
            state.withLock { $0.queues[direction].append((ContinuousClock.now + delay, chunk)) }
            wakeups[direction].signal()
        }
        state.withLock { $0.readerDone[direction] = true }
        wakeups[direction].signal()
    }

    private func write(_ direction: Int) {
        let destination = sockets[1 - direction]
        while true {
            if resetRequested { return }
            if mode() == .stall { usleep(20_000); continue }
            let next = state.withLock { state -> (chunk: (due: ContinuousClock.Instant, bytes: [UInt8])?, done: Bool) in
                (state.queues[direction].first, state.readerDone[direction])
            }
            guard let chunk = next.chunk else {
                if next.done {
                    // The source sent FIN: pass it on.
                    shutdown(destination, Int32(SHUT_WR))
                    return
                }
                _ = wakeups[direction].wait(timeout: .now() + .milliseconds(50))
                continue
            }
            let wait = ContinuousClock.now.duration(to: chunk.due)
            if wait > .zero {
                // Sleep in short steps, so a mode change or a reset is seen.
                let step = min(wait, .milliseconds(20))
                usleep(UInt32(step.components.attoseconds / 1_000_000_000_000 + step.components.seconds * 1_000_000))
                continue
            }
            guard sendAll(destination, chunk.bytes) else { return }
            state.withLock { _ = $0.queues[direction].removeFirst() }
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            if resetRequested { return false }
            // Never block in send: a reset must be able to stop this pump.
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, 50)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let result = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if result < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard result > 0 else { return false }
            sent += result
        }
        return true
    }
}
