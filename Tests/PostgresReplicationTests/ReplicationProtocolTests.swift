import Testing
import PostgresReplication

@Suite("Replication protocol framing")
struct ReplicationProtocolTests {
    @Test func xLogDataPointsAtItsPayload() throws {
        let payload = hexBytes(RealStream.begin729)
        let bytes = Fixture("w").lsn(0x1531648).lsn(0x1531700).int64(1_000_000).raw(payload).bytes
        let message = try ReplicationMessage.decode(bytes)
        #expect(message == .xLogData(walStart: LSN(0x1531648), walEnd: LSN(0x1531700),
                                     sendTimeMicros: 946_684_801_000_000, payloadOffset: 25))
        guard case let .xLogData(_, _, _, offset) = message else { return }
        #expect(offset == ReplicationMessage.xLogDataHeaderSize)
        let inner = try bytes.withUnsafeBytes { buffer in
            try PgOutputDecoder().decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
        #expect(inner == .begin(finalLSN: LSN(0x1531648), commitTimeMicros: RealStream.commitTime729UnixMicros, xid: 729))
    }

    @Test func xLogDataWithEmptyPayload() throws {
        let bytes = Fixture("w").lsn(1).lsn(2).int64(0).bytes
        #expect(try ReplicationMessage.decode(bytes) == .xLogData(walStart: LSN(1), walEnd: LSN(2), sendTimeMicros: 946_684_800_000_000, payloadOffset: 25))
    }

    @Test(arguments: [(UInt8(0), false), (1, true)])
    func keepalive(_ flag: UInt8, _ reply: Bool) throws {
        let bytes = Fixture("k").lsn(0x2_0000_0001).int64(-946_684_800_000_000).byte(flag).bytes
        #expect(bytes.count == 18)
        #expect(try ReplicationMessage.decode(bytes) == .keepalive(walEnd: LSN(0x2_0000_0001), sendTimeMicros: 0, replyRequested: reply))
    }

    @Test func keepaliveFromRawBuffer() throws {
        let bytes = hexBytes("6b0000000001531678000300000000000001")
        let message = try bytes.withUnsafeBytes { try ReplicationMessage.decode($0) }
        #expect(message == .keepalive(walEnd: LSN("0/1531678")!, sendTimeMicros: 0x0003_0000_0000_0000 + 946_684_800_000_000, replyRequested: true))
    }

    @Test func truncatedFramesThrow() {
        let frames = [
            Fixture("w").lsn(1).lsn(2).int64(3).bytes,
            Fixture("k").lsn(1).int64(2).byte(0).bytes,
        ]
        for frame in frames {
            for length in 0..<frame.count {
                #expect(throws: PgOutputDecodingError.self) { try ReplicationMessage.decode(Array(frame.prefix(length))) }
            }
        }
        let error = #expect(throws: PgOutputDecodingError.self) { try ReplicationMessage.decode(Array(frames[1].prefix(12))) }
        #expect(error?.description == "truncated primary keepalive: needed 8 bytes at offset 9, 3 left")
    }

    @Test func keepaliveWithTrailingBytesThrows() {
        let bytes = Fixture("k").lsn(1).int64(2).byte(0).byte(0).bytes
        #expect((#expect(throws: PgOutputDecodingError.self) { try ReplicationMessage.decode(bytes) })?.code == .trailingBytes(count: 1))
    }

    @Test func unknownReplicationMessageType() {
        let error = #expect(throws: PgOutputDecodingError.self) { try ReplicationMessage.decode([UInt8(ascii: "r"), 0, 0]) }
        #expect(error?.code == .unknownReplicationMessageType(UInt8(ascii: "r")))
        #expect(error?.description == "unknown replication message type 'r' (0x72) at offset 0 (expected 'w' or 'k')")
    }

    @Test func standbyStatusUpdateExactBytes() {
        let update = StandbyStatusUpdate(
            written: LSN(0x0102_0304_0506_0708), flushed: LSN("0/16B3748")!, applied: LSN(0),
            clockMicros: 946_684_800_000_001, replyRequested: true)
        let bytes = update.encoded()
        #expect(bytes.count == 34)
        #expect(bytes == hexBytes(
            "72" + "0102030405060708" + "00000000016b3748" + "0000000000000000" + "0000000000000001" + "01"))
    }

    @Test func standbyStatusUpdateClockBeforeThePostgresEpochIsNegative() {
        let bytes = StandbyStatusUpdate(written: .zero, flushed: .zero, applied: .zero, clockMicros: 0, replyRequested: false).encoded()
        // -946684800000000 as a big-endian two's-complement Int64.
        #expect(Array(bytes[25..<33]) == hexBytes("fffca2fec4c82000"))
        #expect(bytes[33] == 0)
    }

    @Test func postgresEpochConversions() {
        #expect(PostgresEpoch.unixOffsetMicros == 946_684_800_000_000)
        #expect(PostgresEpoch.unixMicros(fromPostgresMicros: 0) == 946_684_800_000_000)
        #expect(PostgresEpoch.postgresMicros(fromUnixMicros: 946_684_800_000_000) == 0)
        #expect(PostgresEpoch.postgresMicros(fromUnixMicros: PostgresEpoch.unixMicros(fromPostgresMicros: 123_456)) == 123_456)
        // Saturates instead of trapping (Postgres's infinity sentinels).
        #expect(PostgresEpoch.unixMicros(fromPostgresMicros: Int64.max) == Int64.max)
        #expect(PostgresEpoch.postgresMicros(fromUnixMicros: Int64.min) == Int64.min)
    }
}
