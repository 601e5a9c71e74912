/// Conversions between Postgres timestamps (microseconds since
/// 2000-01-01 00:00:00 UTC) and Unix timestamps (microseconds since 1970-01-01 UTC).
///
/// Both directions saturate at `Int64.min`/`Int64.max` instead of trapping, so
/// Postgres's `-infinity`/`infinity` sentinels stay at the extremes.
package enum PostgresEpoch {
    /// Microseconds from the Unix epoch to the Postgres epoch.
    public static let unixOffsetMicros: Int64 = 946_684_800_000_000

    /// Postgres-epoch microseconds → Unix-epoch microseconds.
    public static func unixMicros(fromPostgresMicros micros: Int64) -> Int64 {
        let (sum, overflow) = micros.addingReportingOverflow(unixOffsetMicros)
        return overflow ? Int64.max : sum
    }

    /// Unix-epoch microseconds → Postgres-epoch microseconds.
    public static func postgresMicros(fromUnixMicros micros: Int64) -> Int64 {
        let (difference, overflow) = micros.subtractingReportingOverflow(unixOffsetMicros)
        return overflow ? Int64.min : difference
    }
}
