/// OIDs of the built-in Postgres types the value decoder knows by number
/// (from `pg_type.dat`; built-in OIDs are fixed across versions).
public enum PostgresTypeOID {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let char: UInt32 = 18
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let xml: UInt32 = 142
    public static let point: UInt32 = 600
    public static let box: UInt32 = 603
    public static let cidr: UInt32 = 650
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let money: UInt32 = 790
    public static let macaddr: UInt32 = 829
    public static let inet: UInt32 = 869
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let time: UInt32 = 1083
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let interval: UInt32 = 1186
    public static let timetz: UInt32 = 1266
    public static let bit: UInt32 = 1560
    public static let varbit: UInt32 = 1562
    public static let numeric: UInt32 = 1700
    public static let uuid: UInt32 = 2950
    public static let jsonb: UInt32 = 3802

    public static let boolArray: UInt32 = 1000
    public static let byteaArray: UInt32 = 1001
    public static let charArray: UInt32 = 1002
    public static let nameArray: UInt32 = 1003
    public static let int2Array: UInt32 = 1005
    public static let int4Array: UInt32 = 1007
    public static let textArray: UInt32 = 1009
    public static let bpcharArray: UInt32 = 1014
    public static let varcharArray: UInt32 = 1015
    public static let int8Array: UInt32 = 1016
    public static let boxArray: UInt32 = 1020
    public static let float4Array: UInt32 = 1021
    public static let float8Array: UInt32 = 1022
    public static let oidArray: UInt32 = 1028
    public static let dateArray: UInt32 = 1182
    public static let timeArray: UInt32 = 1183
    public static let timestampArray: UInt32 = 1115
    public static let timestamptzArray: UInt32 = 1185
    public static let intervalArray: UInt32 = 1187
    public static let numericArray: UInt32 = 1231
    public static let uuidArray: UInt32 = 2951
    public static let jsonArray: UInt32 = 199
    public static let jsonbArray: UInt32 = 3807

    /// The `typname` of a built-in type the decoder knows, for messages.
    static func builtinName(_ oid: UInt32) -> String? {
        builtinNames[oid]
    }

    private static let builtinNames: [UInt32: String] = [
        16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4",
        25: "text", 26: "oid", 114: "json", 142: "xml", 600: "point", 603: "box", 650: "cidr",
        700: "float4", 701: "float8", 790: "money", 829: "macaddr", 869: "inet",
        1042: "bpchar", 1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp",
        1184: "timestamptz", 1186: "interval", 1266: "timetz", 1560: "bit", 1562: "varbit",
        1700: "numeric", 2950: "uuid", 3802: "jsonb",
        1000: "_bool", 1001: "_bytea", 1002: "_char", 1003: "_name", 1005: "_int2",
        1007: "_int4", 1009: "_text", 1014: "_bpchar", 1015: "_varchar", 1016: "_int8",
        1020: "_box", 1021: "_float4", 1022: "_float8", 1028: "_oid", 1182: "_date",
        1183: "_time", 1115: "_timestamp", 1185: "_timestamptz", 1187: "_interval",
        1231: "_numeric", 2951: "_uuid", 199: "_json", 3807: "_jsonb",
    ]
}
