/// The standby status update (`r`) a replication client sends to the walsender
/// in a CopyData message, to report its written/flushed/applied positions.
///
/// The walsender only lets the slot release WAL up to `flushed`.
package struct StandbyStatusUpdate: Sendable, Hashable {
    /// Last WAL byte + 1 received and written.
    public var written: LSN
    /// Last WAL byte + 1 durably processed (the slot's confirmed flush position).
    public var flushed: LSN
    /// Last WAL byte + 1 applied.
    public var applied: LSN
    /// The client's clock, Unix-epoch microseconds (sent in the Postgres epoch).
    public var clockMicros: Int64
    /// Ask the server to reply with a keepalive immediately.
    public var replyRequested: Bool

    /// Size of the encoded message: `r` + 4 × Int64 + Byte1.
    public static let encodedSize = 34

    public init(written: LSN, flushed: LSN, applied: LSN, clockMicros: Int64, replyRequested: Bool) {
        self.written = written
        self.flushed = flushed
        self.applied = applied
        self.clockMicros = clockMicros
        self.replyRequested = replyRequested
    }

    /// The CopyData payload to send (34 bytes, big-endian).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.encodedSize)
        bytes.append(UInt8(ascii: "r"))
        Self.append(written.value, to: &bytes)
        Self.append(flushed.value, to: &bytes)
        Self.append(applied.value, to: &bytes)
        Self.append(UInt64(bitPattern: PostgresEpoch.postgresMicros(fromUnixMicros: clockMicros)), to: &bytes)
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
