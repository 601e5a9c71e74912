#!/usr/bin/env bash
# Catch-up throughput of WalBridge (release build) against pg_recvlogical with
# pgoutput, on the same WAL: both slots are created at the same point, the
# workload is committed, then each consumer is timed from process start until
# it has the workload's end LSN (pg_recvlogical: --endpos; WalBridge: the slot's
# confirmed_flush_lsn passes it, so delivery to Kafka is included).
#
#   bench/catchup.sh [ROWS] [single|many]   (default: 200000 single)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
rows="${1:-200000}"
shape="${2:-single}"
bash "$WALBRIDGE_ROOT/scripts/start-postgres.sh" >/dev/null
cd "$WALBRIDGE_ROOT"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
bin="$WALBRIDGE_ROOT/.build-release/release/walbridge"
work="$(mktemp -d)"
db=walbridge_bench

admin_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
admin_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
admin_psql -d "$db" -f - <sql/auth-schema.sql >/dev/null
admin_psql -d "$db" -v password="$WALBRIDGE_PASSWORD" -f - <sql/walbridge-setup.sql >/dev/null
admin_psql -d "$db" -c "SELECT pg_create_logical_replication_slot('bench_walbridge', 'pgoutput')" \
    -c "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')" >/dev/null

values="SELECT 'user' || g, 'First', 'Last', 'user' || g || '@example.com', 'hash' FROM generate_series(1, $rows) g"
if [ "$shape" = single ]; then
    admin_psql -d "$db" -c "INSERT INTO users (username, first_name, last_name, email, password_hash) $values" >/dev/null
else
    admin_psql -d "$db" -c "DO \$\$ BEGIN FOR g IN 1..$rows LOOP INSERT INTO users (username, first_name, last_name, email, password_hash) VALUES ('user' || g, 'First', 'Last', 'user' || g || '@example.com', 'hash'); COMMIT; END LOOP; END \$\$" >/dev/null
fi
end="$(admin_psql -d "$db" -tAc "SELECT pg_current_wal_insert_lsn()")"

now() { date +%s.%N; }
start=$(now)
as_pg_user pg_recvlogical -h "$WALBRIDGE_PG_DIR" -p "$WALBRIDGE_PG_PORT" -U postgres -d "$db" --slot bench_recvlogical \
    --start -o proto_version=1 -o publication_names=walbridge -P pgoutput -E "$end" -f /dev/null
recv_seconds=$(echo "$(now) - $start" | bc -l)

mkfifo "$work/control"
"$bin" dev-broker --topic bench.users:6 <"$work/control" >"$work/broker.out" 2>/dev/null &
broker=$!
exec 5>"$work/control"
for _ in $(seq 100); do [ -s "$work/broker.out" ] && break; sleep 0.05; done
cat >"$work/walbridge.yaml" <<YAML
postgres: {url: "postgres://walbridge:\${WALBRIDGE_PASSWORD}@127.0.0.1:$WALBRIDGE_PG_PORT/$db", slot: bench_walbridge}
kafka: {bootstrap_servers: "$(head -n 1 "$work/broker.out")"}
checkpoint: {path: "$work/checkpoint.json"}
logging: {level: warning}
mappings:
  - table: public.users
    topic: bench.users
    key: [id]
    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
    fields: {id: userId, username: username, first_name: firstName, last_name: lastName, email: email}
YAML
start=$(now)
"$bin" run --config "$work/walbridge.yaml" &
bridge=$!
until [ "$(admin_psql -d "$db" -tAc "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'bench_walbridge'")" = t ]; do
    sleep 0.01
done
bridge_seconds=$(echo "$(now) - $start" | bc -l)
kill -TERM "$bridge"; wait "$bridge" || true
exec 5>&-; kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true
admin_psql -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
rm -rf "$work"

printf '| workload | pg_recvlogical | WalBridge | ratio |\n|---|---|---|---|\n'
printf '| %s rows, %s | %.2f s (%.0f rows/s) | %.2f s (%.0f events/s) | %.2f |\n' "$rows" \
    "$([ "$shape" = single ] && echo "one transaction" || echo "one row per transaction")" \
    "$recv_seconds" "$(echo "$rows / $recv_seconds" | bc -l)" "$bridge_seconds" "$(echo "$rows / $bridge_seconds" | bc -l)" \
    "$(echo "$recv_seconds / $bridge_seconds" | bc -l)"
