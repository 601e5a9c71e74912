/// The columns of one row as pgoutput sent them (`TupleData`), undecoded.
///
/// Storage design: the decoder copies a change message into one `[UInt8]`
/// (or reuses the caller's array), and every `.text`/`.binary` column is an
/// `ArraySlice` of that single buffer. Slices share the array's storage, so a
/// row costs one allocation for the message bytes plus one for the column
/// list, never one per column. Mind that an `ArraySlice` keeps the indices of
/// the whole buffer: iterate it or use `withUnsafeBytes`, don't index from 0.
public struct TupleData: Sendable, Hashable {
    /// One entry per attribute of the relation, in column order.
    public var columns: [TupleColumn]

    public init(columns: [TupleColumn]) {
        self.columns = columns
    }

    public var count: Int { columns.count }
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
