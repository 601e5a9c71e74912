/// pgoutput messages captured from PostgreSQL 15.18 with
/// `pg_logical_slot_peek_binary_changes('s', NULL, NULL, 'proto_version', '1',
/// 'publication_names', 'pub', 'messages', 'true')` (session TimeZone=UTC,
/// DateStyle=ISO, extra_float_digits=3), after:
///
/// ```sql
/// CREATE TYPE mood AS ENUM ('sad', 'happy');
/// CREATE TABLE users (id int8 PRIMARY KEY, username text NOT NULL, email varchar(100), active bool,
///     score float8, balance numeric, created timestamptz, m mood, tags text[]);
/// CREATE TABLE full_t (id int4 PRIMARY KEY, note text);  -- REPLICA IDENTITY FULL
/// BEGIN;
/// INSERT INTO users VALUES (42, 'ada', 'ada@example.com', true, -0, 'NaN',  -- score: integer -0, sent as "0"
///     '2026-11-23 05:12:00.123456+00', 'happy', '{"a b","q\"uote",NULL,"NULL"}');
/// INSERT INTO users (id, username) VALUES (43, 'bob');
/// SELECT pg_logical_emit_message(true, 'wb', 'hello');
/// COMMIT;
/// UPDATE users SET id = 44, email = NULL WHERE id = 43;   -- key change: 'K' tuple
/// UPDATE users SET username = 'ada2' WHERE id = 42;
/// DELETE FROM users WHERE id = 42;
/// INSERT INTO full_t VALUES (1, 'x'); UPDATE full_t SET note = 'y'; DELETE FROM full_t;
/// TRUNCATE users, full_t RESTART IDENTITY CASCADE;
/// SELECT pg_logical_emit_message(false, 'nt', '\x00ff'::bytea);
/// -- then, in one transaction, an update leaving a TOASTed column unchanged ('u').
/// ```
enum RealStream {
    // xid 729
    static let begin729 = "42000000000153164800030426a8600696000002d9"
    static let typeMood = "59000040017075626c6963006d6f6f6400"
    static let relationUsers = "52000040057075626c6963007573657273006400090169640000000014ffffffff00757365726e616d650000000019ffffffff00656d61696c000000041300000068006163746976650000000010ffffffff0073636f726500000002bdffffffff0062616c616e636500000006a4ffffffff006372656174656400000004a0ffffffff006d0000004001ffffffff007461677300000003f1ffffffff"
    static let insertAda = "49000040054e0009740000000234327400000003616461740000000f616461406578616d706c652e636f6d74000000017474000000013074000000034e614e740000001d323032362d31312d32332030353a31323a30302e3132333435362b303074000000056861707079740000001d7b22612062222c22715c22756f7465222c4e554c4c2c224e554c4c227d"
    static let insertBob = "49000040054e0009740000000234337400000003626f626e6e6e6e6e6e6e"
    static let messageHello = "4d0100000000015316487762000000000568656c6c6f"
    static let commit729 = "43000000000001531648000000000153167800030426a8600696"
    // xid 730: key-changing update
    static let begin730 = "42000000000153172800030426a8600a85000002da"
    static let updateKeyChange = "55000040054b0009740000000234336e6e6e6e6e6e6e6e4e0009740000000234347400000003626f626e6e6e6e6e6e6e"
    static let commit730 = "43000000000001531728000000000153175800030426a8600a85"
    // plain update (no old tuple), delete by key
    static let updatePlain = "55000040054e000974000000023432740000000461646132740000000f616461406578616d706c652e636f6d74000000017474000000013074000000034e614e740000001d323032362d31312d32332030353a31323a30302e3132333435362b303074000000056861707079740000001d7b22612062222c22715c22756f7465222c4e554c4c2c224e554c4c227d"
    static let deleteKey = "44000040054b0009740000000234326e6e6e6e6e6e6e6e"
    // REPLICA IDENTITY FULL table
    static let relationFull = "520000400c7075626c69630066756c6c5f74006600020169640000000017ffffffff016e6f74650000000019ffffffff"
    static let insertFull = "490000400c4e0002740000000131740000000178"
    static let updateFull = "550000400c4f00027400000001317400000001784e0002740000000131740000000179"
    static let deleteFull = "440000400c4f0002740000000131740000000179"
    // xid 736
    static let begin736 = "4200000000015331c800030426a8601bee000002e0"
    static let truncateBoth = "540000000203000040050000400c"
    static let commit736 = "430000000000015331c8000000000153346800030426a8601bee"
    static let nonTransactionalMessage = "4d0000000000015334a06e74000000000200ff"
    // toasty (id int4, big text, n int4): UPDATE toasty SET n = 2
    static let updateUnchangedToast = "550000401c4e000374000000013175740000000132"

    static var all: [String] {
        [begin729, typeMood, relationUsers, insertAda, insertBob, messageHello, commit729,
         begin730, updateKeyChange, commit730, updatePlain, deleteKey, relationFull, insertFull,
         updateFull, deleteFull, begin736, truncateBoth, commit736, nonTransactionalMessage,
         updateUnchangedToast]
    }

    /// Commit time of xid 729: 2026-11-26 06:16:50.265750 UTC.
    static let commitTime729UnixMicros: Int64 = 1_795_673_810_265_750
}
