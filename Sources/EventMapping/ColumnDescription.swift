import PostgresReplication

/// What the catalog says about one table column, as far as the JSON encoding
/// of its values depends on it. Built by the caller (which talks to Postgres)
/// and handed to `EventSchemaGenerator`.
public struct ColumnDescription: Sendable, Hashable {
    /// How a value of the column is encoded (docs/events.md, "Value encoding").
    public indirect enum ValueType: Sendable, Hashable {
        /// A built-in scalar type, by its OID (domains already resolved to their base).
        case builtin(oid: UInt32)
        /// An enum type and its labels, in sort order.
        case enumeration(labels: [String])
        /// An array of `element` (any number of dimensions, NULL elements allowed).
        case array(element: ValueType)
        /// Any other type (composite, range, extension type): its text form.
        case text
    }

    /// The column's name.
    public var name: String
    /// Postgres's name of the declared type (`format_type`), e.g. `character varying(80)`.
    public var typeName: String
    /// The declared type's OID (the domain's own OID for a domain column).
    public var typeOID: UInt32
    /// How its values are encoded.
    public var valueType: ValueType
    /// `NOT NULL`: the value is never SQL NULL.
    public var notNull: Bool
    /// Large values may be stored out of line (TOAST), so an update that does not
    /// change them may not carry them (`attstorage` `x` or `e`).
    public var toastable: Bool

    public init(name: String, typeName: String, typeOID: UInt32, valueType: ValueType, notNull: Bool, toastable: Bool) {
        self.name = name
        self.typeName = typeName
        self.typeOID = typeOID
        self.valueType = valueType
        self.notNull = notNull
        self.toastable = toastable
    }
}
