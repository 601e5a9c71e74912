/// Decodes pgoutput's text-format column values into `PostgresValue`s.
///
/// Assumes the walsender session settings WalBridge always uses
/// (`TimeZone=UTC`, `DateStyle=ISO`, `IntervalStyle=iso_8601`,
/// `extra_float_digits=3`, `lc_monetary=C`); `bytea` is accepted in both hex
/// and escape output formats. Stateless; the `TypeRegistry` supplies the
/// names of non-built-in types. Malformed text throws `ValueDecodingError`
/// (never traps), so the caller can dead-letter the row.
///
/// Mapping: bool, int2/int4/int8/oid, float4/float8, numeric (exact text),
/// text-like types and uuid (`.string`), json/jsonb, bytea, date, time,
/// timestamp, timestamptz (normalised to UTC) and arrays of all of these get
/// their own cases; `infinity` and BC dates/timestamps stay `.string`;
/// every other type is `.string` of its text form.
///
/// Domains: pgoutput reports a domain column with the domain's own OID (and a
/// Type message naming it), while the text is the base type's output. Give the
/// decoder `baseTypes` (built from the catalog, see `baseTypes`) and a domain's
/// values decode as its base type's; without it they stay `.string`.
public struct PostgresValueDecoder: Sendable {
    /// Type OIDs whose text is another type's output: each domain → its base
    /// type (domains over domains followed to the end), and each array of a
    /// domain → the array type of that base. Types not listed decode as themselves.
    public var baseTypes: [UInt32: UInt32]

    public init(baseTypes: [UInt32: UInt32] = [:]) {
        self.baseTypes = baseTypes
    }

    /// The OID whose text format `typeOID`'s values have.
    @inline(__always)
    public func resolvedType(_ typeOID: UInt32) -> UInt32 {
        baseTypes.isEmpty ? typeOID : (baseTypes[typeOID] ?? typeOID)
    }

    /// Decodes the text bytes of one column (as carried by `TupleColumn.text`).
    public func decode(_ text: ArraySlice<UInt8>, typeOID: UInt32, registry: TypeRegistry) throws(ValueDecodingError) -> PostgresValue {
        try decode(String(decoding: text, as: UTF8.self), typeOID: typeOID, registry: registry)
    }

    /// Decodes the text bytes of one column, borrowed for the call (the
    /// stream's path): integers are parsed from the bytes, text becomes one
    /// `String`; everything else goes through `decode(_: String, ...)`.
    public func decode(_ text: UnsafeRawBufferPointer, typeOID: UInt32, registry: TypeRegistry) throws(ValueDecodingError) -> PostgresValue {
        let resolved = resolvedType(typeOID)
        if case let .scalar(kind) = ValueKind.of(resolved, registry: registry) {
            switch kind {
            case .integer:
                if let value = ScalarText.integer(utf8: text) { return .int(value) }
            case .text, .other:
                return .string(String(decoding: text, as: UTF8.self))
            default:
                break
            }
        }
        return try decode(String(decoding: text, as: UTF8.self), typeOID: typeOID, registry: registry)
    }

    /// Decodes the text of one column.
    public func decode(_ text: String, typeOID: UInt32, registry: TypeRegistry) throws(ValueDecodingError) -> PostgresValue {
        do {
            switch ValueKind.of(resolvedType(typeOID), registry: registry) {
            case let .scalar(kind):
                return try Self.decodeScalar(text, kind: kind)
            case let .array(element, delimiter):
                return try ArrayLiteralParser.parse(text, delimiter: delimiter) { (elementText: String) throws(ValueSyntaxError) in
                    try Self.decodeScalar(elementText, kind: element)
                }
            }
        } catch {
            throw ValueDecodingError(typeOID: typeOID, typeName: registry.name(of: typeOID), text: text, reason: error.reason)
        }
    }

    static func decodeScalar(_ text: String, kind: ScalarKind) throws(ValueSyntaxError) -> PostgresValue {
        switch kind {
        case .bool: return .bool(try ScalarText.bool(text))
        case .integer: return .int(try ScalarText.integer(text))
        case .float: return .double(try ScalarText.float(text))
        case .numeric: return .numeric(try ScalarText.numeric(text))
        case .text, .other: return .string(text)
        case .json: return .json(text)
        case .bytea: return .bytes(try ScalarText.bytea(text))
        case .date: return try DateTimeText.date(text)
        case .time: return try DateTimeText.time(text)
        case .timestamp: return try DateTimeText.timestamp(text, withTimeZone: false)
        case .timestampTZ: return try DateTimeText.timestamp(text, withTimeZone: true)
        }
    }
}
