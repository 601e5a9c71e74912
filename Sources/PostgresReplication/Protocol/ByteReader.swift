/// A bounds-checked, big-endian cursor over a borrowed byte buffer.
///
/// Every read checks the remaining length first and throws
/// `PgOutputDecodingError.Code.truncated` instead of reading past the end.
/// `context` names the message being read so errors say what was truncated.
/// The buffer must outlive the reader (it is only used inside a
/// `withUnsafeBytes` scope or on a caller-owned buffer).
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int
    var context: String

    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0, context: String) {
        self.buffer = buffer
        self.offset = offset
        self.context = context
    }

    var remaining: Int { buffer.count - offset }
    var isAtEnd: Bool { offset >= buffer.count }

    func error(_ code: PgOutputDecodingError.Code, at position: Int? = nil) -> PgOutputDecodingError {
        PgOutputDecodingError(code, offset: position ?? offset, context: context)
    }

    private func require(_ count: Int) throws(PgOutputDecodingError) {
        if count > remaining {
            throw error(.truncated(needed: count, available: max(remaining, 0)))
        }
    }

    mutating func readUInt8() throws(PgOutputDecodingError) -> UInt8 {
        try require(1)
        let value = buffer[offset]
        offset &+= 1
        return value
    }

    mutating func readUInt16() throws(PgOutputDecodingError) -> UInt16 {
        try require(2)
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        offset &+= 2
        return UInt16(bigEndian: value)
    }

    mutating func readInt16() throws(PgOutputDecodingError) -> Int16 {
        Int16(bitPattern: try readUInt16())
    }

    mutating func readUInt32() throws(PgOutputDecodingError) -> UInt32 {
        try require(4)
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset &+= 4
        return UInt32(bigEndian: value)
    }

    mutating func readInt32() throws(PgOutputDecodingError) -> Int32 {
        Int32(bitPattern: try readUInt32())
    }

    mutating func readUInt64() throws(PgOutputDecodingError) -> UInt64 {
        try require(8)
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset &+= 8
        return UInt64(bigEndian: value)
    }

    mutating func readInt64() throws(PgOutputDecodingError) -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    mutating func readLSN() throws(PgOutputDecodingError) -> LSN {
        LSN(try readUInt64())
    }

    /// A non-negative Int32 length or count; negative values are an error.
    mutating func readLength32() throws(PgOutputDecodingError) -> Int {
        let start = offset
        let value = try readInt32()
        if value < 0 { throw error(.negativeLength(Int64(value)), at: start) }
        return Int(value)
    }

    /// A non-negative Int16 count; negative values are an error.
    mutating func readCount16() throws(PgOutputDecodingError) -> Int {
        let start = offset
        let value = try readInt16()
        if value < 0 { throw error(.negativeLength(Int64(value)), at: start) }
        return Int(value)
    }

    /// Skips `count` bytes and returns their range in the buffer.
    mutating func readRange(_ count: Int) throws(PgOutputDecodingError) -> Range<Int> {
        try require(count)
        let start = offset
        offset &+= count
        return start..<offset
    }

    mutating func readBytes(_ count: Int) throws(PgOutputDecodingError) -> [UInt8] {
        let range = try readRange(count)
        return [UInt8](UnsafeRawBufferPointer(rebasing: buffer[range]))
    }

    /// A NUL-terminated string; invalid UTF-8 is replaced, never trapped on.
    mutating func readCString() throws(PgOutputDecodingError) -> String {
        var end = offset
        while end < buffer.count && buffer[end] != 0 { end &+= 1 }
        guard end < buffer.count else { throw error(.unterminatedString) }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<end]), as: UTF8.self)
        offset = end &+ 1
        return text
    }

    /// Throws `.trailingBytes` unless the whole buffer was consumed.
    func expectEnd() throws(PgOutputDecodingError) {
        if remaining > 0 { throw error(.trailingBytes(count: remaining)) }
    }
}
