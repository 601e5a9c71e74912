/// One message of the streaming replication sub-protocol, decoded from the
/// payload of a CopyData message the walsender sent during `START_REPLICATION`.
///
/// Times are converted to Unix-epoch microseconds.
public enum ReplicationMessage: Sendable, Hashable {
    /// `w`: WAL data. The pgoutput message starts at `payloadOffset` in the
    /// same buffer, so the caller can decode it in place without copying:
    /// `UnsafeRawBufferPointer(rebasing: buffer[payloadOffset...])`.
    case xLogData(walStart: LSN, walEnd: LSN, sendTimeMicros: Int64, payloadOffset: Int)
    /// `k`: primary keepalive. `replyRequested` asks for a standby status update now.
    case keepalive(walEnd: LSN, sendTimeMicros: Int64, replyRequested: Bool)

    /// Size of the XLogData header (`w` + 3 × Int64); the payload starts here.
    public static let xLogDataHeaderSize = 25

    /// Decodes one CopyData payload.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(PgOutputDecodingError) -> ReplicationMessage {
        var reader = ByteReader(bytes, context: "replication message")
        guard !reader.isAtEnd else { throw reader.error(.empty) }
        let type = try reader.readUInt8()
        switch type {
        case UInt8(ascii: "w"):
            reader.context = "XLogData"
            let walStart = try reader.readLSN()
            let walEnd = try reader.readLSN()
            let sendTime = try reader.readInt64()
            return .xLogData(
                walStart: walStart, walEnd: walEnd,
                sendTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: sendTime),
                payloadOffset: reader.offset)
        case UInt8(ascii: "k"):
            reader.context = "primary keepalive"
            let walEnd = try reader.readLSN()
            let sendTime = try reader.readInt64()
            let reply = try reader.readUInt8()
            try reader.expectEnd()
            return .keepalive(
                walEnd: walEnd,
                sendTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: sendTime),
                replyRequested: reply != 0)
        default:
            throw reader.error(.unknownReplicationMessageType(type), at: 0)
        }
    }

    /// Decodes one CopyData payload held in an array.
    public static func decode(_ bytes: [UInt8]) throws(PgOutputDecodingError) -> ReplicationMessage {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(PgOutputDecodingError) in try decode(buffer) }
        }.get()
    }
}
