import PostgresReplication

/// Fuzz entry point: the text value decoders (scalars, dates and times,
/// arrays, …).
///
/// Input: one byte choosing the type OID from `typeOIDs`, then the value's
/// text as Postgres would send it in a tuple column. Decoded through every
/// entry point (slice, raw buffer, string); a typed error is expected.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzValues(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let choice = input.first else { return 0 }
    let oid = typeOIDs[Int(choice) % typeOIDs.count]
    let text = UnsafeRawBufferPointer(rebasing: input[1...])
    let decoder = PostgresValueDecoder(baseTypes: [domainOID: PostgresTypeOID.int4])
    var registry = TypeRegistry()
    registry.register(TypeMessage(oid: enumOID, namespace: "public", name: "mood"))
    _ = try? decoder.decode(text, typeOID: oid, registry: registry)
    _ = try? decoder.decode(ArraySlice(text), typeOID: oid, registry: registry)
    _ = try? decoder.decode(String(decoding: text, as: UTF8.self), typeOID: oid, registry: registry)
    return 0
}

/// A domain over int4 and an enum, as a Relation and a Type message would announce them.
let domainOID: UInt32 = 90_001
let enumOID: UInt32 = 90_002

/// Every type the decoder treats specially, their arrays, and a few it does not know.
let typeOIDs: [UInt32] = [
    16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 600, 603, 650, 700, 701, 790, 829, 869,
    1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950, 3802, 3614, 3904, 3906, 3926,
    1000, 1001, 1002, 1003, 1014, 1020, 1028, 1005, 1007, 1016, 1009, 1015, 1021, 1022, 1115, 1182, 1183, 1185, 1187, 1231, 1270,
    2951, 199, 3807, 3905, 3907, 1040, 1041, 1017,
    domainOID, enumOID, 0, 4_294_967_295, 2249,
]
