/// A column value decoded from pgoutput's text format into a typed Swift value.
///
/// The cases follow what a consumer needs to encode a value faithfully; the
/// JSON encoding of each case lives in `EventMapping`. Types without a richer
/// representation (`interval`, `money`, ranges, `inet`, geometric and extension
/// types, BC dates, `infinity` timestamps) are `.string` holding Postgres's own
/// text form, exactly as the walsender wrote it.
public enum PostgresValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// `bool`.
    case bool(Bool)
    /// `int2`, `int4`, `int8`, `oid`.
    case int(Int64)
    /// `float4`, `float8`, including NaN and ±Infinity.
    case double(Double)
    /// `numeric`: the exact text Postgres wrote (`1e-30` stays `0.000…1`),
    /// including `NaN`, `Infinity` and `-Infinity`.
    case numeric(String)
    /// Text types (`text`, `varchar`, `bpchar` with its padding, `name`),
    /// `uuid`, enum labels, and the text form of every type without its own case.
    case string(String)
    /// `json` / `jsonb`: the JSON text as Postgres wrote it, to embed verbatim.
    case json(String)
    /// `bytea`, decoded from Postgres's hex format.
    case bytes([UInt8])
    /// `date` (AD only; BC dates and `infinity` are `.string`).
    case date(PostgresDate)
    /// `time` without time zone.
    case time(PostgresTime)
    /// `timestamp` without time zone.
    case timestamp(PostgresDate, PostgresTime)
    /// `timestamptz`, normalised to UTC.
    case timestampTZ(PostgresDate, PostgresTime)
    /// An array; multi-dimensional arrays nest.
    case array([PostgresValue])
}

/// A calendar date (proleptic Gregorian, AD).
public struct PostgresDate: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int
    public init(year: Int, month: Int, day: Int) {
        self.year = year; self.month = month; self.day = day
    }
}

/// A time of day with microsecond precision.
public struct PostgresTime: Sendable, Hashable {
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var microsecond: Int
    public init(hour: Int, minute: Int, second: Int, microsecond: Int) {
        self.hour = hour; self.minute = minute; self.second = second; self.microsecond = microsecond
    }
}
