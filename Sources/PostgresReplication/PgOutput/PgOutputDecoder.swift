/// Decodes pgoutput (protocol version 1) messages from their wire bytes.
///
/// Pure and stateless: no I/O, no allocation beyond the decoded message. Any
/// malformed, truncated or unknown input throws `PgOutputDecodingError`
/// naming the byte offset; nothing traps. A message must fill the buffer
/// exactly (trailing bytes are an error, as they mean a protocol mismatch).
///
/// Change messages (`I`, `U`, `D`) are copied once into a `[UInt8]` that
/// their `TupleData` keeps (one allocation per change message, none per
/// column); `decode(_: [UInt8])` shares the caller's array instead of copying.
public struct PgOutputDecoder: Sendable {
    public init() {}

    /// Decodes one message. `bytes` is only read during the call.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(PgOutputDecodingError) -> PgOutputMessage {
        guard let type = bytes.first else {
            throw PgOutputDecodingError(.empty, offset: 0, context: "pgoutput message")
        }
        switch type {
        case UInt8(ascii: "I"), UInt8(ascii: "U"), UInt8(ascii: "D"):
            // Tuple columns are slices of one owned copy of the message.
            return try decode([UInt8](bytes))
        default:
            var reader = ByteReader(bytes, context: "pgoutput message")
            return try Self.decodeMessage(&reader, storage: [])
        }
    }

    /// Decodes one message held in an array; tuple columns share its storage.
    public func decode(_ bytes: [UInt8]) throws(PgOutputDecodingError) -> PgOutputMessage {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(PgOutputDecodingError) in
                var reader = ByteReader(buffer, context: "pgoutput message")
                return try Self.decodeMessage(&reader, storage: bytes)
            }
        }.get()
    }

    /// `storage` must hold the same bytes as `reader.buffer` for change messages.
    private static func decodeMessage(
        _ reader: inout ByteReader, storage: [UInt8]
    ) throws(PgOutputDecodingError) -> PgOutputMessage {
        guard !reader.isAtEnd else { throw reader.error(.empty) }
        let type = try reader.readUInt8()
        let message: PgOutputMessage
        switch type {
        case UInt8(ascii: "B"):
            reader.context = "Begin message"
            let finalLSN = try reader.readLSN()
            let time = try reader.readInt64()
            let xid = try reader.readUInt32()
            message = .begin(finalLSN: finalLSN,
                             commitTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: time), xid: xid)
        case UInt8(ascii: "C"):
            reader.context = "Commit message"
            let flags = try reader.readUInt8()
            let commitLSN = try reader.readLSN()
            let endLSN = try reader.readLSN()
            let time = try reader.readInt64()
            message = .commit(flags: flags, commitLSN: commitLSN, endLSN: endLSN,
                              commitTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: time))
        case UInt8(ascii: "O"):
            reader.context = "Origin message"
            let lsn = try reader.readLSN()
            let name = try reader.readCString()
            message = .origin(commitLSN: lsn, name: name)
        case UInt8(ascii: "R"):
            reader.context = "Relation message"
            message = .relation(try decodeRelation(&reader))
        case UInt8(ascii: "Y"):
            reader.context = "Type message"
            let oid = try reader.readUInt32()
            let namespace = try reader.readCString()
            let name = try reader.readCString()
            message = .type(TypeMessage(oid: oid, namespace: namespace, name: name))
        case UInt8(ascii: "I"):
            reader.context = "Insert message"
            let relationID = try reader.readUInt32()
            try expectMarker(&reader, "N", "'N'")
            message = .insert(relationID: relationID, new: try decodeTuple(&reader, storage: storage))
        case UInt8(ascii: "U"):
            reader.context = "Update message"
            message = try decodeUpdate(&reader, storage: storage)
        case UInt8(ascii: "D"):
            reader.context = "Delete message"
            let relationID = try reader.readUInt32()
            let markerOffset = reader.offset
            let marker = try reader.readUInt8()
            guard let kind = oldRowKind(marker) else {
                throw reader.error(.unexpectedMarker(found: marker, expected: "'K' or 'O'"), at: markerOffset)
            }
            message = .delete(relationID: relationID, old: try decodeTuple(&reader, storage: storage), oldKind: kind)
        case UInt8(ascii: "T"):
            reader.context = "Truncate message"
            message = try decodeTruncate(&reader)
        case UInt8(ascii: "M"):
            reader.context = "Message message"
            let flags = try reader.readUInt8()
            let lsn = try reader.readLSN()
            let prefix = try reader.readCString()
            let length = try reader.readLength32()
            let content = try reader.readBytes(length)
            message = .message(LogicalMessage(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: content))
        default:
            throw reader.error(.unknownMessageType(type), at: reader.offset &- 1)
        }
        try reader.expectEnd()
        return message
    }

    private static func decodeRelation(_ reader: inout ByteReader) throws(PgOutputDecodingError) -> RelationMessage {
        let id = try reader.readUInt32()
        let namespace = try reader.readCString()
        let name = try reader.readCString()
        let identityOffset = reader.offset
        let identityByte = try reader.readUInt8()
        let identity: Relation.ReplicaIdentity
        switch identityByte {
        case UInt8(ascii: "d"): identity = .default
        case UInt8(ascii: "n"): identity = .nothing
        case UInt8(ascii: "f"): identity = .full
        case UInt8(ascii: "i"): identity = .index
        default: throw reader.error(.unknownReplicaIdentity(identityByte), at: identityOffset)
        }
        let count = try reader.readCount16()
        var columns: [Relation.Column] = []
        // Each column takes at least 10 bytes: never reserve more than the message can hold.
        columns.reserveCapacity(min(count, reader.remaining / 10))
        for _ in 0..<count {
            let flags = try reader.readUInt8()
            let columnName = try reader.readCString()
            let typeOID = try reader.readUInt32()
            let modifier = try reader.readInt32()
            columns.append(Relation.Column(name: columnName, typeOID: typeOID, typeModifier: modifier,
                                           isKey: flags & 1 != 0))
        }
        return RelationMessage(id: id, namespace: namespace, name: name, replicaIdentity: identity, columns: columns)
    }

    private static func decodeUpdate(
        _ reader: inout ByteReader, storage: [UInt8]
    ) throws(PgOutputDecodingError) -> PgOutputMessage {
        let relationID = try reader.readUInt32()
        let markerOffset = reader.offset
        let marker = try reader.readUInt8()
        var old: TupleData?
        var oldKind: OldRowKind?
        if let kind = oldRowKind(marker) {
            oldKind = kind
            old = try decodeTuple(&reader, storage: storage)
            try expectMarker(&reader, "N", "'N'")
        } else if marker != UInt8(ascii: "N") {
            throw reader.error(.unexpectedMarker(found: marker, expected: "'K', 'O' or 'N'"), at: markerOffset)
        }
        let new = try decodeTuple(&reader, storage: storage)
        return .update(relationID: relationID, old: old, oldKind: oldKind, new: new)
    }

    private static func decodeTruncate(_ reader: inout ByteReader) throws(PgOutputDecodingError) -> PgOutputMessage {
        let count = try reader.readLength32()
        let options = try reader.readUInt8()
        var ids: [UInt32] = []
        ids.reserveCapacity(min(count, reader.remaining / 4))
        for _ in 0..<count {
            ids.append(try reader.readUInt32())
        }
        return .truncate(relationIDs: ids, cascade: options & 1 != 0, restartIdentity: options & 2 != 0)
    }

    private static func decodeTuple(
        _ reader: inout ByteReader, storage: [UInt8]
    ) throws(PgOutputDecodingError) -> TupleData {
        let count = try reader.readCount16()
        // Validate the columns once; `TupleData` walks them later without checks.
        let start = reader.offset
        for _ in 0..<count {
            let kindOffset = reader.offset
            let kind = try reader.readUInt8()
            switch kind {
            case UInt8(ascii: "n"), UInt8(ascii: "u"):
                continue
            case UInt8(ascii: "t"), UInt8(ascii: "b"):
                let length = try reader.readLength32()
                _ = try reader.readRange(length)
            default:
                throw reader.error(.unknownTupleColumnKind(kind), at: kindOffset)
            }
        }
        return TupleData(wire: storage, range: start..<reader.offset, count: count)
    }

    private static func oldRowKind(_ marker: UInt8) -> OldRowKind? {
        switch marker {
        case UInt8(ascii: "K"): return .key
        case UInt8(ascii: "O"): return .full
        default: return nil
        }
    }

    private static func expectMarker(
        _ reader: inout ByteReader, _ marker: Unicode.Scalar, _ description: String
    ) throws(PgOutputDecodingError) {
        let offset = reader.offset
        let byte = try reader.readUInt8()
        if byte != UInt8(ascii: marker) {
            throw reader.error(.unexpectedMarker(found: byte, expected: description), at: offset)
        }
    }
}
