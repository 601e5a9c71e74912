/// How the text of a scalar (or array element) type is decoded.
enum ScalarKind: Sendable, Hashable {
    case bool, integer, float, numeric, text, json, bytea, date, time, timestamp, timestampTZ
    /// Kept as its text form (`.string`).
    case other
}

/// How a column's text is decoded: one scalar, or an array literal of scalars.
enum ValueKind: Sendable, Hashable {
    case scalar(ScalarKind)
    case array(element: ScalarKind, delimiter: UInt8)

    static func of(_ oid: UInt32, registry: TypeRegistry) -> ValueKind {
        if let scalar = builtinScalar(oid) { return .scalar(scalar) }
        if oid == PostgresTypeOID.boxArray { return .array(element: .other, delimiter: UInt8(ascii: ";")) }
        if let element = builtinArrayElement(oid) { return .array(element: element, delimiter: UInt8(ascii: ",")) }
        // A user type's array (`_mood`, `_citext`): elements stay text.
        if let name = registry[oid]?.name, name.hasPrefix("_") {
            return .array(element: .other, delimiter: UInt8(ascii: ","))
        }
        return .scalar(.other)
    }

    private static func builtinScalar(_ oid: UInt32) -> ScalarKind? {
        typealias T = PostgresTypeOID
        switch oid {
        case T.bool: return .bool
        case T.int2, T.int4, T.int8, T.oid: return .integer
        case T.float4, T.float8: return .float
        case T.numeric: return .numeric
        case T.text, T.varchar, T.bpchar, T.name, T.char, T.uuid: return .text
        case T.json, T.jsonb: return .json
        case T.bytea: return .bytea
        case T.date: return .date
        case T.time: return .time
        case T.timestamp: return .timestamp
        case T.timestamptz: return .timestampTZ
        default: return nil
        }
    }

    /// Element kinds of the built-in array types. Arrays of types without a
    /// richer representation are listed too, so they become arrays of strings.
    private static func builtinArrayElement(_ oid: UInt32) -> ScalarKind? {
        switch oid {
        case 1000: return .bool
        case 1005, 1007, 1016, 1028: return .integer
        case 1021, 1022: return .float
        case 1231: return .numeric
        case 1002, 1003, 1009, 1014, 1015, 2951: return .text
        case 199, 3807: return .json
        case 1001: return .bytea
        case 1182: return .date
        case 1183: return .time
        case 1115: return .timestamp
        case 1185: return .timestampTZ
        // _xml, _point, _lseg, _path, _polygon, _circle, _cidr, _money, _macaddr, _inet,
        // _interval, _timetz, _bit, _varbit, _macaddr8, _tsvector, _tsquery, ranges,
        // _regtype, _regclass, _xid, _cid, _tid, _jsonpath, _pg_lsn, _int2vector, _oidvector.
        case 143, 1017, 1018, 1019, 1027, 719, 651, 791, 1040, 1041,
             1187, 1270, 1561, 1563, 775, 3643, 3645,
             3905, 3907, 3909, 3911, 3913, 3927,
             2211, 2210, 1011, 1012, 1010, 4073, 3221, 1006, 1013:
            return .other
        default: return nil
        }
    }
}
