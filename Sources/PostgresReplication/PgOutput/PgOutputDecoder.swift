/// Decodes pgoutput messages of protocol versions 1 to 4 from their wire bytes.
///
/// Pure and stateless: no I/O, no allocation beyond the decoded message. Any
/// malformed, truncated or unknown input throws `PgOutputDecodingError`
/// naming the byte offset; nothing traps. A message must fill the buffer
/// exactly (trailing bytes are an error, as they mean a protocol mismatch).
///
/// Every message kind of every version is decoded whatever version the
/// session asked for, so that a message the server should not have sent is
/// still understood (and can be skipped by the `TransactionAssembler`).
/// Two things depend on the session, and the caller says them:
/// - Inside a stream block (after Stream Start, before Stream Stop),
///   Relation, Type, Insert, Update, Delete, Truncate and Message carry the
///   xid of their (sub)transaction: pass `inStreamBlock: true` and they come
///   back as `.streamed(xid:message:)`. The stream tracks the blocks.
/// - Stream Abort carries the abort LSN and time only with protocol 4 and
///   `streaming 'parallel'` (`streamAbortHasAbortInfo`). Other sessions
///   expect the 9-byte form but also accept the 25-byte one, as a stray
///   Stream Abort (see `TransactionAssembler`) is skipped either way.
///
/// Change messages (`I`, `U`, `D`) are copied once into a `[UInt8]` that
/// their `TupleData` keeps (one allocation per change message, none per
/// column); `decode(_: [UInt8])` shares the caller's array instead of copying.
package struct PgOutputDecoder: Sendable {
    /// The pgoutput `proto_version` the session asked for (1 to 4).
    public let protocolVersion: Int
    /// The session asked for `streaming 'parallel'` (protocol 4 only).
    public let parallelStreaming: Bool

    /// - Parameters:
    ///   - protocolVersion: the `proto_version` sent in `START_REPLICATION`.
    ///   - parallelStreaming: whether `streaming 'parallel'` was sent too.
    public init(protocolVersion: Int = 1, parallelStreaming: Bool = false) {
        self.protocolVersion = protocolVersion
        self.parallelStreaming = parallelStreaming
    }

    /// Whether Stream Abort messages must carry the abort LSN and abort time.
    public var streamAbortHasAbortInfo: Bool { protocolVersion >= 4 && parallelStreaming }

    /// Decodes one message. `bytes` is only read during the call.
    /// `inStreamBlock`: the message came between Stream Start and Stream Stop.
    public func decode(
        _ bytes: UnsafeRawBufferPointer, inStreamBlock: Bool = false
    ) throws(PgOutputDecodingError) -> PgOutputMessage {
        guard let type = bytes.first else {
            throw PgOutputDecodingError(.empty, offset: 0, context: "pgoutput message")
        }
        switch type {
        case UInt8(ascii: "I"), UInt8(ascii: "U"), UInt8(ascii: "D"):
            // Tuple columns are slices of one owned copy of the message.
            return try decode([UInt8](bytes), inStreamBlock: inStreamBlock)
        default:
            var reader = ByteReader(bytes, context: "pgoutput message")
            return try decodeMessage(&reader, storage: [], inStreamBlock: inStreamBlock)
        }
    }

    /// Decodes one message held in an array; tuple columns share its storage.
    public func decode(
        _ bytes: [UInt8], inStreamBlock: Bool = false
    ) throws(PgOutputDecodingError) -> PgOutputMessage {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(PgOutputDecodingError) in
                var reader = ByteReader(buffer, context: "pgoutput message")
                return try decodeMessage(&reader, storage: bytes, inStreamBlock: inStreamBlock)
            }
        }.get()
    }

    /// `storage` must hold the same bytes as `reader.buffer` for change messages.
    private func decodeMessage(
        _ reader: inout ByteReader, storage: [UInt8], inStreamBlock: Bool
    ) throws(PgOutputDecodingError) -> PgOutputMessage {
        guard !reader.isAtEnd else { throw reader.error(.empty) }
        let type = try reader.readUInt8()
        var message: PgOutputMessage
        // Set for the messages that carry their (sub)transaction's xid in a stream block.
        var streamXID: UInt32?
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
            if inStreamBlock { streamXID = try reader.readUInt32() }
            message = .relation(try Self.decodeRelation(&reader))
        case UInt8(ascii: "Y"):
            reader.context = "Type message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            let oid = try reader.readUInt32()
            let namespace = try reader.readCString()
            let name = try reader.readCString()
            message = .type(TypeMessage(oid: oid, namespace: namespace, name: name))
        case UInt8(ascii: "I"):
            reader.context = "Insert message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            let relationID = try reader.readUInt32()
            try Self.expectMarker(&reader, "N", "'N'")
            message = .insert(relationID: relationID, new: try Self.decodeTuple(&reader, storage: storage))
        case UInt8(ascii: "U"):
            reader.context = "Update message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            message = try Self.decodeUpdate(&reader, storage: storage)
        case UInt8(ascii: "D"):
            reader.context = "Delete message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            let relationID = try reader.readUInt32()
            let markerOffset = reader.offset
            let marker = try reader.readUInt8()
            guard let kind = Self.oldRowKind(marker) else {
                throw reader.error(.unexpectedMarker(found: marker, expected: "'K' or 'O'"), at: markerOffset)
            }
            message = .delete(relationID: relationID, old: try Self.decodeTuple(&reader, storage: storage), oldKind: kind)
        case UInt8(ascii: "T"):
            reader.context = "Truncate message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            message = try Self.decodeTruncate(&reader)
        case UInt8(ascii: "M"):
            reader.context = "Message message"
            if inStreamBlock { streamXID = try reader.readUInt32() }
            let flags = try reader.readUInt8()
            let lsn = try reader.readLSN()
            let prefix = try reader.readCString()
            let length = try reader.readLength32()
            let content = try reader.readBytes(length)
            message = .message(LogicalMessage(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: content))
        case UInt8(ascii: "S"):
            reader.context = "Stream Start message"
            let xid = try reader.readUInt32()
            let first = try reader.readUInt8()
            message = .streamStart(xid: xid, firstSegment: first == 1)
        case UInt8(ascii: "E"):
            reader.context = "Stream Stop message"
            message = .streamStop
        case UInt8(ascii: "c"):
            reader.context = "Stream Commit message"
            let xid = try reader.readUInt32()
            let flags = try reader.readUInt8()
            let commitLSN = try reader.readLSN()
            let endLSN = try reader.readLSN()
            let time = try reader.readInt64()
            message = .streamCommit(xid: xid, flags: flags, commitLSN: commitLSN, endLSN: endLSN,
                                    commitTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: time))
        case UInt8(ascii: "A"):
            reader.context = "Stream Abort message"
            let xid = try reader.readUInt32()
            let subxid = try reader.readUInt32()
            var abortLSN: LSN?
            var abortTime: Int64?
            if streamAbortHasAbortInfo || reader.remaining == 16 {
                abortLSN = try reader.readLSN()
                abortTime = PostgresEpoch.unixMicros(fromPostgresMicros: try reader.readInt64())
            }
            message = .streamAbort(xid: xid, subtransactionXID: subxid, abortLSN: abortLSN, abortTimeMicros: abortTime)
        case UInt8(ascii: "b"):
            reader.context = "Begin Prepare message"
            message = .beginPrepare(try Self.decodePrepared(&reader))
        case UInt8(ascii: "P"):
            reader.context = "Prepare message"
            let flags = try reader.readUInt8()
            message = .prepare(flags: flags, try Self.decodePrepared(&reader))
        case UInt8(ascii: "K"):
            reader.context = "Commit Prepared message"
            let flags = try reader.readUInt8()
            let commitLSN = try reader.readLSN()
            let endLSN = try reader.readLSN()
            let time = try reader.readInt64()
            let xid = try reader.readUInt32()
            let gid = try reader.readCString()
            message = .commitPrepared(flags: flags, commitLSN: commitLSN, endLSN: endLSN,
                                      commitTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: time), xid: xid, gid: gid)
        case UInt8(ascii: "r"):
            reader.context = "Rollback Prepared message"
            let flags = try reader.readUInt8()
            let prepareEndLSN = try reader.readLSN()
            let rollbackEndLSN = try reader.readLSN()
            let prepareTime = try reader.readInt64()
            let rollbackTime = try reader.readInt64()
            let xid = try reader.readUInt32()
            let gid = try reader.readCString()
            message = .rollbackPrepared(
                flags: flags, prepareEndLSN: prepareEndLSN, rollbackEndLSN: rollbackEndLSN,
                prepareTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: prepareTime),
                rollbackTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: rollbackTime), xid: xid, gid: gid)
        case UInt8(ascii: "p"):
            reader.context = "Stream Prepare message"
            let flags = try reader.readUInt8()
            message = .streamPrepare(flags: flags, try Self.decodePrepared(&reader))
        default:
            throw reader.error(.unknownMessageType(type), at: reader.offset &- 1)
        }
        try reader.expectEnd()
        if let streamXID { message = .streamed(xid: streamXID, message: message) }
        return message
    }

    /// The fields after the type (and flags) of Begin Prepare, Prepare and Stream Prepare.
    private static func decodePrepared(_ reader: inout ByteReader) throws(PgOutputDecodingError) -> PreparedTransaction {
        let prepareLSN = try reader.readLSN()
        let endLSN = try reader.readLSN()
        let time = try reader.readInt64()
        let xid = try reader.readUInt32()
        let gid = try reader.readCString()
        return PreparedTransaction(prepareLSN: prepareLSN, endLSN: endLSN,
                                   prepareTimeMicros: PostgresEpoch.unixMicros(fromPostgresMicros: time), xid: xid, gid: gid)
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
