/// Names of the non-built-in types (enums, domains, extension types and their
/// arrays) the stream has described with Type (`Y`) messages.
///
/// pgoutput sends a Type message before the first Relation message that uses
/// such a type; the value decoder uses the name to recognise arrays of user
/// types (names starting with `_`).
public struct TypeRegistry: Sendable, Hashable {
    private var types: [UInt32: TypeMessage] = [:]

    public init() {}

    /// Records (or replaces) a type description.
    public mutating func register(_ type: TypeMessage) {
        types[type.oid] = type
    }

    /// The registered description of `oid`, if any.
    public subscript(oid: UInt32) -> TypeMessage? {
        types[oid]
    }

    /// The registered name of `oid`, else its built-in name, else nil.
    public func name(of oid: UInt32) -> String? {
        types[oid]?.name ?? PostgresTypeOID.builtinName(oid)
    }

    /// Number of registered types.
    public var count: Int { types.count }
}
