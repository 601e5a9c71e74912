import PostgresReplication

/// Fuzz entry point: the pgoutput decoder and the transaction assembler.
///
/// Input: one byte of session options (bits 0–1: protocol version − 1,
/// bit 2: `streaming 'parallel'`, bit 3: the messages are CopyData payloads
/// with their XLogData header), then messages, each a big-endian UInt16
/// length and that many bytes (a short last one is taken as it is).
/// Every message is decoded and fed to one assembler; errors are expected,
/// crashes and hangs are not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPgOutput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let options = input.first else { return 0 }
    let decoder = PgOutputDecoder(protocolVersion: Int(options & 3) + 1, parallelStreaming: options & 4 != 0)
    let framed = options & 8 != 0
    var assembler = TransactionAssembler()
    assembler.logger.logLevel = .critical
    var inStreamBlock = false
    var offset = 1
    while offset < size {
        var length = Int(input[offset]) << 8
        if offset + 1 < size { length |= Int(input[offset + 1]) }
        offset += 2
        let end = min(size, offset + length)
        let message = UnsafeRawBufferPointer(rebasing: input[min(offset, end)..<end])
        offset = end
        var payload = message
        if framed {
            guard let replication = try? ReplicationMessage.decode(message) else { continue }
            guard case .xLogData(_, _, _, let payloadOffset) = replication else { continue }
            payload = UnsafeRawBufferPointer(rebasing: message[payloadOffset...])
        }
        guard let decoded = try? decoder.decode(payload, inStreamBlock: inStreamBlock) else { continue }
        switch decoded {
        case .streamStart: inStreamBlock = true
        case .streamStop: inStreamBlock = false
        default: break
        }
        _ = try? assembler.process(decoded)
        // The array form shares storage with tuple columns: decode it too.
        _ = try? decoder.decode([UInt8](payload), inStreamBlock: inStreamBlock)
    }
    return 0
}
