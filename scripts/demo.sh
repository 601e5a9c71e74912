#!/usr/bin/env bash
# The README's first command: installs what is missing, starts a throwaway
# Postgres cluster (15 unless told otherwise) and the test Kafka broker on
# loopback, runs WalBridge, registers, updates and deletes a user, and prints
# the events as they arrive.
#
#   bash scripts/demo.sh [--version 15|16|17|18]   (or PG_VERSION=16 bash scripts/demo.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
take_version_option "$@"
bash "$WALBRIDGE_ROOT/scripts/start-postgres.sh"
cd "$WALBRIDGE_ROOT"

log "building walbridge"
swift build --product walbridge >/dev/null
bin="$(swift build --show-bin-path)/walbridge"

demo="$WALBRIDGE_ROOT/.demo"
rm -rf "$demo"
mkdir -p "$demo"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

log "starting the test Kafka broker"
mkfifo "$demo/broker-control"
"$bin" dev-broker --topic auth.users.events:3 <"$demo/broker-control" >"$demo/broker.out" 2>"$demo/broker.log" &
pids+=($!)
exec 3>"$demo/broker-control"   # keeps the broker's standard input open
for _ in $(seq 100); do [ -s "$demo/broker.out" ] && break; sleep 0.1; done
bootstrap="$(head -n 1 "$demo/broker.out")"
[ -n "$bootstrap" ] || { cat "$demo/broker.log"; echo "the test broker did not start" >&2; exit 1; }
log "test broker at $bootstrap"

# A fresh slot and checkpoint each time, so the demo shows exactly its own changes.
admin_psql -d auth -c "SELECT pg_drop_replication_slot('walbridge_demo') FROM pg_replication_slots WHERE slot_name = 'walbridge_demo'" >/dev/null

cat >"$demo/walbridge.yaml" <<YAML
postgres:
  url: postgres://walbridge:\${WALBRIDGE_PASSWORD}@127.0.0.1:$WALBRIDGE_PG_PORT/auth
  slot: walbridge_demo
  publication: walbridge
kafka:
  bootstrap_servers: $bootstrap
checkpoint:
  path: $demo/checkpoint.json
mappings:
  - table: public.users
    topic: auth.users.events
    key: [id]
    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
    fields:
      id: userId
      username: username
      first_name: firstName
      last_name: lastName
      email: email
YAML

log "walbridge validate"
"$bin" validate --config "$demo/walbridge.yaml"

log "walbridge run (log: .demo/walbridge.log)"
"$bin" run --config "$demo/walbridge.yaml" 2>"$demo/walbridge.log" &
bridge=$!
pids+=($bridge)
for _ in $(seq 100); do grep -q "streaming" "$demo/walbridge.log" && break; sleep 0.1; done
grep -q "streaming" "$demo/walbridge.log" || { cat "$demo/walbridge.log"; echo "walbridge did not start streaming" >&2; exit 1; }

log "changing users: register, update, delete"
suffix="$(date +%s%N)"
admin_psql -d auth <<SQL
INSERT INTO users (username, first_name, last_name, email, password_hash)
VALUES ('ada$suffix', 'Ada', 'Lovelace', 'ada$suffix@example.com', 'never-published');
UPDATE users SET last_name = 'King', updated_at = now() WHERE username = 'ada$suffix';
DELETE FROM users WHERE username = 'ada$suffix';
SQL

log "events on auth.users.events"
"$bin" dev-consume --bootstrap-servers "$bootstrap" --topic auth.users.events --count 3 --timeout 30

log "stopping walbridge (SIGTERM)"
kill -TERM "$bridge"
wait "$bridge" && status=0 || status=$?
tail -n 3 "$demo/walbridge.log"
log "walbridge exited with status $status; checkpoint: $(cat "$demo/checkpoint.json")"
