/// A replication-protocol or pgoutput message that could not be decoded.
///
/// Carries the byte offset (from the start of the buffer handed to the
/// decoder) where decoding stopped, the kind of message being read, and what
/// was expected there. The decoders never trap on malformed input: every
/// defect surfaces as one of these errors.
public struct PgOutputDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// The message ended early: `needed` more bytes were required, `available` were left.
        case truncated(needed: Int, available: Int)
        /// The buffer was empty, so there was no message type byte.
        case empty
        /// The first byte is not a pgoutput message type of protocols 1 to 4.
        case unknownMessageType(UInt8)
        /// The first byte of a CopyData payload is neither `w` (XLogData) nor `k` (keepalive).
        case unknownReplicationMessageType(UInt8)
        /// A tuple column kind other than `n`, `u`, `t`, `b`.
        case unknownTupleColumnKind(UInt8)
        /// A Relation message's replica identity is not one of `d`, `n`, `f`, `i`.
        case unknownReplicaIdentity(UInt8)
        /// A marker byte (`N`, `K`, `O`) was expected; `expected` lists the allowed ones.
        case unexpectedMarker(found: UInt8, expected: String)
        /// A length or count field is negative.
        case negativeLength(Int64)
        /// A String field has no NUL terminator before the end of the message.
        case unterminatedString
        /// Bytes remained after a complete message.
        case trailingBytes(count: Int)
    }

    public var code: Code
    /// Byte offset into the decoded buffer where the problem was found.
    public var offset: Int
    /// The message being decoded, e.g. "Relation message", "XLogData".
    public var context: String

    public init(_ code: Code, offset: Int, context: String) {
        self.code = code
        self.offset = offset
        self.context = context
    }

    public var description: String {
        switch code {
        case let .truncated(needed, available):
            return "truncated \(context): needed \(needed) bytes at offset \(offset), \(available) left"
        case .empty:
            return "empty \(context): no message type byte"
        case let .unknownMessageType(byte):
            return "unknown pgoutput message type \(Self.show(byte)) at offset \(offset)"
        case let .unknownReplicationMessageType(byte):
            return "unknown replication message type \(Self.show(byte)) at offset \(offset) (expected 'w' or 'k')"
        case let .unknownTupleColumnKind(byte):
            return "unknown tuple column kind \(Self.show(byte)) at offset \(offset) in \(context)"
        case let .unknownReplicaIdentity(byte):
            return "unknown replica identity \(Self.show(byte)) at offset \(offset) in \(context)"
        case let .unexpectedMarker(found, expected):
            return "unexpected byte \(Self.show(found)) at offset \(offset) in \(context): expected \(expected)"
        case let .negativeLength(value):
            return "negative length \(value) at offset \(offset) in \(context)"
        case .unterminatedString:
            return "unterminated string at offset \(offset) in \(context)"
        case let .trailingBytes(count):
            return "\(count) unexpected trailing bytes at offset \(offset) after \(context)"
        }
    }

    /// `'X' (0x58)` for printable ASCII, `0x01` otherwise.
    static func show(_ byte: UInt8) -> String {
        let hex = "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        if byte >= 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))' (\(hex))"
        }
        return hex
    }
}
