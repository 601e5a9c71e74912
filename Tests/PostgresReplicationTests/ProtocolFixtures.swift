/// pgoutput messages of protocols 2 to 4, captured from real servers with
/// `pg_logical_slot_peek_binary_changes` (the slot SQL interface runs the same
/// pgoutput code as a walsender), session `logical_decoding_work_mem = '64kB'`
/// so that a few thousand rows make Postgres stream.
enum StreamFixtures {
    // PostgreSQL 15.18, options 'proto_version' '2', 'streaming' 'on', 'publication_names' 'p', after
    //   CREATE TABLE s (id int PRIMARY KEY, v text);  -- oid 16441
    //   BEGIN; INSERT INTO s VALUES (1, 'a'); SAVEPOINT sp;
    //   INSERT INTO s SELECT g, 'r' FROM generate_series(100, 3100) g; ROLLBACK TO sp;
    //   INSERT INTO s SELECT g, 'k' FROM generate_series(5000, 8000) g; COMMIT;   -- xid 33700, subxacts 33701, 33702

    /// Stream Start, xid 33700, first segment.
    static let streamStartFirst = "53000083a401"
    /// Relation `public.s` inside the stream of xid 33700.
    static let streamedRelation = "52000083a4000040397075626c69630073006400020169640000000017ffffffff00760000000019ffffffff"
    /// Insert (1, 'a') inside the stream of xid 33700.
    static let streamedInsert = "49000083a4000040394e0002740000000131740000000161"
    static let streamStop = "45"
    /// Stream Start, xid 33700, not the first segment.
    static let streamStartNext = "53000083a400"
    /// Stream Abort of subtransaction 33701 of xid 33700 (protocol 2: no abort LSN or time).
    static let streamAbortSubtransaction = "41000083a4000083a5"
    /// Relation `public.s` again, for the second subtransaction (xid 33702).
    static let streamedRelationSubtransaction = "52000083a6000040397075626c69630073006400020169640000000017ffffffff00760000000019ffffffff"
    /// Stream Commit of xid 33700: commit LSN 0/47B60D8, end LSN 0/47B6110.
    static let streamCommit = "63000083a40000000000047b60d800000000047b61100003049bfd570659"

    // PostgreSQL 15.18, same options plus 'messages' 'true', after
    //   CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE TABLE e (id int PRIMARY KEY, m mood); CREATE TABLE u (id int PRIMARY KEY);
    //   BEGIN; INSERT INTO s SELECT g, 'k' FROM generate_series(20000, 23000) g; INSERT INTO e VALUES (1, 'happy');
    //   UPDATE s SET v = 'q' WHERE id = 20000; DELETE FROM s WHERE id = 20001;
    //   SELECT pg_logical_emit_message(true, 'wb', 'hi'); TRUNCATE u; COMMIT;   -- xid 33710

    /// Type `public.mood` (oid 16451) inside the stream of xid 33710.
    static let streamedType = "59000083ae000040437075626c6963006d6f6f6400"
    /// Insert (1, 'happy') into `e` (oid 16455).
    static let streamedInsertEnum = "49000083ae000040474e000274000000013174000000056861707079"
    /// Update of `s`: new tuple (20000, 'q').
    static let streamedUpdate = "55000083ae000040394e000274000000053230303030740000000171"
    /// Delete from `s` by key 20001.
    static let streamedDelete = "44000083ae000040394b0002740000000532303030316e"
    /// Transactional Message 'wb' / "hi" at 0/4886B88.
    static let streamedMessage = "4d000083ae010000000004886b88776200000000026869"
    /// Truncate of `u` (oid 16460).
    static let streamedTruncate = "54000083ae00000001000000404c"

    // PostgreSQL 18.6, slot created with two_phase = true, max_prepared_transactions = 10, table s as above:
    //   BEGIN; INSERT INTO s VALUES (1, 'a'); PREPARE TRANSACTION 'g1'; COMMIT PREPARED 'g1';        -- xid 777
    //   BEGIN; INSERT INTO s VALUES (2, 'b'); PREPARE TRANSACTION 'g2'; ROLLBACK PREPARED 'g2';      -- xid 778
    //   BEGIN; INSERT INTO s SELECT g, 'k' FROM generate_series(100, 3100) g; PREPARE TRANSACTION 'g3'; COMMIT PREPARED 'g3';  -- xid 779
    //   BEGIN; INSERT INTO s VALUES (5, 'a'); SAVEPOINT sp; INSERT INTO s SELECT g, 'r' FROM generate_series(5000, 8000) g;
    //   ROLLBACK TO sp; INSERT INTO s VALUES (6, 'b'); COMMIT;                                        -- xid 780, subxact 781
    // read with 'proto_version' '3', 'two_phase' 'on' (the first four below) and with
    // 'proto_version' '4', 'two_phase' 'on', 'streaming' 'parallel' (the last three).

    /// Begin Prepare of xid 777, gid "g1": prepare LSN 0/33B83D0, end LSN 0/33B84C8.
    static let beginPrepare = "6200000000033b83d000000000033b84c80003049bfedab85200000309673100"
    /// Prepare of xid 777, gid "g1".
    static let prepare = "500000000000033b83d000000000033b84c80003049bfedab85200000309673100"
    /// Commit Prepared of xid 777, gid "g1": commit LSN 0/33B84C8, end LSN 0/33B8500.
    static let commitPrepared = "4b0000000000033b84c800000000033b85000003049bfedab8fb00000309673100"
    /// Rollback Prepared of xid 778, gid "g2": prepare end LSN 0/33B8678, rollback end LSN 0/33B86B0.
    static let rollbackPrepared = "720000000000033b867800000000033b86b00003049bfedab9d10003049bfedaba0b0000030a673200"
    /// Stream Prepare of xid 779, gid "g3" (protocol 4, streaming parallel): prepare LSN 0/3417F90, end LSN 0/34180A0.
    static let streamPrepare = "70000000000003417f9000000000034180a00003049bfedad3320000030b673300"
    /// Stream Abort of subtransaction 781 of xid 780 with protocol 4's abort LSN 0/3477A30 and abort time.
    static let streamAbortParallel = "410000030c0000030d0000000003477a300003049bfedae4a3"
    /// Stream Commit of xid 780: commit LSN 0/3477AB8, end LSN 0/3477AF0.
    static let streamCommitParallel = "630000030c000000000003477ab80000000003477af00003049bfedae525"

    /// The messages decoded outside a stream block.
    static var outsideBlock: [String] {
        [streamStartFirst, streamStop, streamStartNext, streamAbortSubtransaction, streamCommit, beginPrepare,
         prepare, commitPrepared, rollbackPrepared, streamPrepare, streamAbortParallel, streamCommitParallel]
    }

    /// The messages that carry an xid, decoded inside a stream block.
    static var insideBlock: [String] {
        [streamedRelation, streamedInsert, streamedRelationSubtransaction, streamedType, streamedInsertEnum,
         streamedUpdate, streamedDelete, streamedMessage, streamedTruncate]
    }

    /// Postgres-epoch microseconds as the decoder reports them (Unix epoch).
    static func unixMicros(_ postgresMicros: Int64) -> Int64 { postgresMicros + 946_684_800_000_000 }
}

/// The stray Stream Abort of Postgres 18 (estuary/connectors#5228), captured
/// from PostgreSQL 18.6 with `pg_logical_slot_peek_binary_changes('s4', NULL,
/// NULL, 'proto_version', '1', 'publication_names', 'p')` — protocol 1, no
/// streaming asked for — in a session with `logical_decoding_work_mem =
/// '64kB'` (with the default 64MB it is not sent), after
///
/// ```sql
/// BEGIN;                                                                   -- xid 1145
/// SAVEPOINT a; INSERT INTO s SELECT g, 'x' FROM generate_series(200000, 200100) g; RELEASE a;   -- subxact 1146
/// INSERT INTO s SELECT g, repeat('x', 200) FROM generate_series(210000, 215000) g;
/// ROLLBACK;
/// INSERT INTO s VALUES (999998, 'z');                                      -- xid 1147
/// ```
///
/// Decoding the aborted transaction after the fact, the reorder buffer goes
/// over its limit, finds the transaction aborted and truncates it, marking
/// its subtransaction as streamed; the abort record then makes pgoutput send
/// a Stream Abort for it. Nothing of xid 1145 is sent otherwise.
enum Postgres18StrayAbort {
    /// Stream Abort of subtransaction 1146 of xid 1145 (9 bytes: no abort LSN or time).
    static let streamAbort = "41000004790000047a"
    static let begin = "4200000000056ec5380003049c4217aa9b0000047b"
    /// Relation `public.s` (oid 16406).
    static let relation = "52000040167075626c69630073006400020169640000000017ffffffff00760000000019ffffffff"
    static let insert = "49000040164e0002740000000639393939393874000000017a"
    static let commit = "430000000000056ec53800000000056ec5680003049c4217aa9b"

    static var all: [String] { [streamAbort, begin, relation, insert, commit] }
}
