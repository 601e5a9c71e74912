import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP proxy between WalBridge and the test cluster that plays a
/// walsender sending bad bytes: it passes every connection through (startup,
/// authentication, queries, the replication handshake) and, in the FIRST
/// replication session only, rewrites the XLogData payload of the first
/// pgoutput Insert that contains `marker`. Later sessions pass cleanly, as a
/// glitch on the path would. Needs `sslmode=disable` to see the stream.
final class CorruptingWalsenderProxy: Sendable {
    /// How the chosen Insert is damaged.
    enum Corruption: String, Sendable, CaseIterable, CustomStringConvertible {
        /// The message replaced by bytes that are no pgoutput message.
        case garbage
        /// The message cut in half (the CopyData shortened to match).
        case truncated
        /// The message type byte changed to one pgoutput does not have.
        case unknownType
        /// The relation id changed to one no Relation message announced.
        case unannouncedRelation
        /// The CopyData cut inside its XLogData header: no pgoutput message at all.
        case truncatedCopyData

        var description: String { rawValue }

        func apply(_ message: [UInt8]) -> [UInt8] {
            switch self {
            case .garbage: return [0xFF, 0x00, 0x13, 0x37, 0xFE, 0xED] + message.prefix(10).map { $0 ^ 0x5A }
            case .truncated: return Array(message.prefix(message.count / 2))
            case .unknownType: return [UInt8(ascii: "Z")] + message.dropFirst()
            case .unannouncedRelation: return [message[0], 0x7F, 0xFF, 0xFF, 0xF0] + message.dropFirst(5)
            case .truncatedCopyData: return []
            }
        }
    }

    private struct State {
        var replicationSessions = 0
        /// The commit LSN (Begin's final LSN) of the transaction whose Insert was corrupted.
        var corruptedCommitLSN: UInt64?
        var corruptedSessions = 0
        var sockets: [Int32] = []
    }

    let port: UInt16
    private let listener: Int32
    private let upstreamPort: UInt16
    private let marker: [UInt8]
    private let corruption: Corruption
    private let everySession: Bool
    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)
    /// Called on the proxy's thread when a replication session starts (its
    /// CopyBothResponse is held until this returns), with the session's number from 1.
    private let onReplicationStart: @Sendable (Int) -> Void

    /// `everySession`: damage the Insert in every replication session, not only the first
    /// (a walsender that always sends the same bad bytes).
    init(upstreamPort: UInt16, marker: String, corruption: Corruption, everySession: Bool = false,
         onReplicationStart: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        self.upstreamPort = upstreamPort
        self.marker = Array(marker.utf8)
        self.corruption = corruption
        self.everySession = everySession
        self.onReplicationStart = onReplicationStart
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("proxy: socket() failed") }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw TestFailure("proxy: cannot listen: \(String(cString: strerror(errno)))")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    /// Replication sessions in which an Insert was damaged.
    var corruptedSessions: Int { state.withLock { $0.corruptedSessions } }
    /// Replication sessions started through the proxy so far.
    var replicationSessions: Int { state.withLock { $0.replicationSessions } }
    /// The commit LSN of the corrupted transaction (the last one damaged).
    var corruptedCommitLSN: UInt64? { state.withLock { $0.corruptedCommitLSN } }

    /// Stops accepting and closes every connection.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in state.withLock({ $0.sockets }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while !stopping.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { if errno == EINTR { continue } else { return } }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(client); close(server); continue }
            state.withLock { $0.sockets += [client, server] }
            // The second pump to end closes both sockets.
            let pair = SocketPair(client: client, server: server)
            let closeWhenBothEnded: @Sendable () -> Void = { [self] in
                guard pair.pumpEnded() else { return }
                state.withLock { $0.sockets.removeAll { $0 == client || $0 == server } }
                close(client)
                close(server)
            }
            Thread { [self] in pumpRaw(from: client, to: server); closeWhenBothEnded() }.start()
            Thread { [self] in pumpBackend(from: server, to: client); closeWhenBothEnded() }.start()
        }
    }

    /// Frontend → backend: untouched.
    private func pumpRaw(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0, sendAll(destination, buffer[0..<count]) else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    /// Backend → frontend: message by message (type byte, Int32 length),
    /// rewriting the chosen CopyData of the first replication session.
    private func pumpBackend(from source: Int32, to destination: Int32) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var session = 0  // this connection's replication session number, 0 before START_REPLICATION
        var lastBeginLSN: UInt64 = 0
        var corruptedHere = false
        loop: while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending.append(contentsOf: buffer[0..<count])
            var out: [UInt8] = []
            var start = 0
            while pending.count - start >= 5 {
                let length = Int(Self.bigEndian(pending, start + 1, 4))
                let end = start + 1 + length
                guard length >= 4, pending.count >= end else { break }
                var message = Array(pending[start..<end])
                start = end
                switch message[0] {
                case UInt8(ascii: "W"):  // CopyBothResponse: START_REPLICATION succeeded
                    session = state.withLock { $0.replicationSessions += 1; return $0.replicationSessions }
                    guard sendAll(destination, out[...]) else { break loop }
                    out = []
                    onReplicationStart(session)
                case UInt8(ascii: "d") where message.count > 5 + 25 && message[5] == UInt8(ascii: "w"):
                    let payload = Array(message[(5 + 25)...])
                    if payload[0] == UInt8(ascii: "B") { lastBeginLSN = Self.bigEndian(payload, 1, 8) }
                    if (session == 1 || (everySession && session > 0)), !corruptedHere, payload[0] == UInt8(ascii: "I"),
                       Self.contains(payload, marker) {
                        corruptedHere = true
                        state.withLock { $0.corruptedCommitLSN = lastBeginLSN; $0.corruptedSessions += 1 }
                        let damaged = corruption.apply(payload)
                        // The XLogData header: whole, or (truncatedCopyData) cut after 13 of its 25 bytes.
                        let header = message[5..<(5 + (corruption == .truncatedCopyData ? 13 : 25))]
                        message = [UInt8(ascii: "d")] + Self.int32(4 + header.count + damaged.count) + header + damaged
                    }
                default:
                    break
                }
                out += message
            }
            pending.removeFirst(start)
            guard sendAll(destination, out[...]) else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    /// Counts the two pumps of one proxied connection.
    private final class SocketPair: Sendable {
        let client: Int32
        let server: Int32
        private let ended = Atomic<Int>(0)
        init(client: Int32, server: Int32) { self.client = client; self.server = server }
        /// Whether this was the second pump to end.
        func pumpEnded() -> Bool { ended.add(1, ordering: .acquiringAndReleasing).newValue == 2 }
    }

    private func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return false }
            sent += result
        }
        return true
    }

    private static func bigEndian(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        bytes[offset..<(offset + count)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func int32(_ value: Int) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
