/// The columns of one row as pgoutput sent them (`TupleData`), undecoded.
///
/// Storage design: the decoder copies a change message into one `[UInt8]`
/// (or reuses the caller's array) and a `TupleData` is just that buffer, the
/// byte range of its columns (already validated) and their count: decoding a
/// row allocates nothing beyond the message copy. `forEachColumn(_:)` walks
/// the columns without allocating; `.text`/`.binary` columns are `ArraySlice`s
/// of the one buffer, so they never copy. `columns` builds the array of
/// columns on demand (for tests and rare paths). A `TupleData` made with
/// `init(columns:)` keeps that array instead. Mind that an `ArraySlice` keeps
/// the indices of the whole buffer: iterate it or use `withUnsafeBytes`,
/// don't index from 0.
public struct TupleData: Sendable, Hashable {
    private enum Storage: Sendable {
        /// Wire-format columns in `bytes[range]`, `count` of them, checked by the decoder.
        case wire(bytes: [UInt8], range: Range<Int>, count: Int)
        case columns([TupleColumn])
    }

    private var storage: Storage

    public init(columns: [TupleColumn]) {
        storage = .columns(columns)
    }

    /// Columns already validated by `PgOutputDecoder`: `count` entries in
    /// `bytes[range]`, each a kind byte (`n`, `u`, `t`, `b`), the last two
    /// followed by a big-endian Int32 length and that many bytes.
    init(wire bytes: [UInt8], range: Range<Int>, count: Int) {
        storage = .wire(bytes: bytes, range: range, count: count)
    }

    /// One entry per attribute of the relation, in column order.
    public var columns: [TupleColumn] {
        get {
            switch storage {
            case .columns(let columns):
                return columns
            case .wire(_, _, let count):
                var columns: [TupleColumn] = []
                columns.reserveCapacity(count)
                forEachColumn { column in columns.append(column) }
                return columns
            }
        }
        set { storage = .columns(newValue) }
    }

    /// The number of columns.
    public var count: Int {
        switch storage {
        case .columns(let columns): columns.count
        case .wire(_, _, let count): count
        }
    }

    /// Calls `body` with each column in order, without allocating.
    @inline(__always)
    public func forEachColumn<E: Error>(_ body: (TupleColumn) throws(E) -> Void) throws(E) {
        switch storage {
        case .columns(let columns):
            for column in columns { try body(column) }
        case .wire(let bytes, let range, let count):
            var offset = range.lowerBound
            for _ in 0..<count {
                let kind = bytes[offset]
                offset &+= 1
                switch kind {
                case UInt8(ascii: "t"), UInt8(ascii: "b"):
                    let length = Int(UInt32(bytes[offset]) << 24 | UInt32(bytes[offset &+ 1]) << 16
                        | UInt32(bytes[offset &+ 2]) << 8 | UInt32(bytes[offset &+ 3]))
                    let start = offset &+ 4
                    offset = start &+ length
                    let slice = bytes[start..<offset]
                    try body(kind == UInt8(ascii: "t") ? .text(slice) : .binary(slice))
                case UInt8(ascii: "n"):
                    try body(.null)
                default:
                    try body(.unchangedToast)
                }
            }
        }
    }

    /// A column as `forEachRawColumn` hands it over: text bytes borrowed for the call.
    enum RawColumn {
        case null
        case unchangedToast
        case text(UnsafeRawBufferPointer)
        case binary
    }

    /// Calls `body` with each column in order, text bytes borrowed from the
    /// storage (valid only during the call): the decoding fast path.
    @inline(__always)
    func forEachRawColumn<E: Error>(_ body: (RawColumn) throws(E) -> Void) throws(E) {
        switch storage {
        case .columns(let columns):
            for column in columns {
                switch column {
                case .null: try body(.null)
                case .unchangedToast: try body(.unchangedToast)
                case .binary: try body(.binary)
                case .text(let slice):
                    try slice.withUnsafeBytes { raw in Result { () throws(E) in try body(.text(raw)) } }.get()
                }
            }
        case .wire(let bytes, let range, let count):
            guard count > 0 else { return }
            try bytes.withUnsafeBytes { buffer in Result { () throws(E) in
                let base = buffer.baseAddress!
                var offset = range.lowerBound
                for _ in 0..<count {
                    let kind = base.load(fromByteOffset: offset, as: UInt8.self)
                    offset &+= 1
                    switch kind {
                    case UInt8(ascii: "t"), UInt8(ascii: "b"):
                        let length = Int(UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                        let start = offset &+ 4
                        offset = start &+ length
                        try body(kind == UInt8(ascii: "t") ? .text(UnsafeRawBufferPointer(start: base + start, count: length)) : .binary)
                    case UInt8(ascii: "n"):
                        try body(.null)
                    default:
                        try body(.unchangedToast)
                    }
                }
            } }.get()
        }
    }

    public static func == (lhs: TupleData, rhs: TupleData) -> Bool {
        lhs.columns == rhs.columns
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(columns)
    }
}

/// One column of a `TupleData`.
public enum TupleColumn: Sendable, Hashable {
    /// `n`: SQL NULL.
    case null
    /// `u`: an unchanged TOASTed value that was not sent.
    case unchangedToast
    /// `t`: the value in text format (the type's output function).
    case text(ArraySlice<UInt8>)
    /// `b`: the value in binary format (only with the `binary` option, not used by WalBridge).
    case binary(ArraySlice<UInt8>)
}
