#!/usr/bin/env bash
# The randomised soak (issue 15; docs/delivery.md, "The randomised soak"): a
# release `walbridge run` streams a mixed workload (single-row and ~50,000-row
# transactions on `users` and `orders`, backfills now and then) through a fault
# proxy from its own Postgres cluster to a `walbridge dev-broker`, while a fault
# schedule drawn from the seed fires (kill -9, SIGTERM, Postgres restarts fast and
# immediate, broker down and slow, Postgres path stalled, reset and cut, two at
# once). walbridge-soak reads every record back and checks the delivery
# invariants; the script exits non-zero on any violation.
#
#   bash scripts/soak.sh [--minutes N] [--seed S] [--version V]   (defaults: 15 minutes, seed 1, Postgres 15)
#   KEEP_SOAK_WORK=1 keeps the work directory (logs, checkpoint) after a passing run too.
# Its own cluster per Postgres version, which it restarts: /tmp/walbridge-soak-pg and
# port 54349 for 15 (/tmp/walbridge-soak-pg<N>, 54349 + (N - 15) otherwise); never the shared one.
export WALBRIDGE_PG_DIR="${WALBRIDGE_SOAK_PG_DIR:-}" WALBRIDGE_PG_PORT="${WALBRIDGE_SOAK_PG_PORT:-}"
export WALBRIDGE_PG_DIR_BASE=/tmp/walbridge-soak-pg WALBRIDGE_PG_PORT_BASE=54349
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
take_version_option "$@"
set -- ${SCRIPT_ARGS[@]+"${SCRIPT_ARGS[@]}"}
minutes=15
seed=1
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --minutes=*) minutes="${1#*=}"; shift ;;
        --seed) seed="$2"; shift 2 ;;
        --seed=*) seed="${1#*=}"; shift ;;
        *) echo "usage: scripts/soak.sh [--minutes N] [--seed S] [--version V]" >&2; exit 2 ;;
    esac
done
cd "$WALBRIDGE_ROOT"
bash scripts/start-postgres.sh >/dev/null
# Half-open paths are noticed within 2 × wal_sender_timeout (at least 10 s): keep the stalls short-lived.
admin_psql -d postgres -c "ALTER SYSTEM SET wal_sender_timeout = '5s'" -c "SELECT pg_reload_conf()" >/dev/null
log "building walbridge and walbridge-soak (release)"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
swift build -c release --product walbridge-soak --scratch-path .build-release >/dev/null
bin="$WALBRIDGE_ROOT/.build-release/release/walbridge"
harness="$WALBRIDGE_ROOT/.build-release/release/walbridge-soak"

db=walbridge_soak
work="$(mktemp -d /tmp/walbridge-soak.XXXXXX)"
drop_database() {
    admin_psql -d "$db" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db' AND NOT active" >/dev/null 2>&1 || true
    admin_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
drop_database
admin_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
admin_psql -d "$db" -f - <sql/auth-schema.sql >/dev/null
admin_psql -d "$db" -v password="$WALBRIDGE_PASSWORD" -f - <sql/walbridge-setup.sql >/dev/null

pg_ctl_command="$PG_BIN/pg_ctl -D $WALBRIDGE_PG_DIR/data -l $WALBRIDGE_PG_DIR/postgres.log -w -t 120"
[ "$(id -u)" = 0 ] && pg_ctl_command="runuser -u postgres -- $pg_ctl_command"

log "soak: $minutes minutes, seed $seed, Postgres $PG_VERSION on port $WALBRIDGE_PG_PORT; logs in $work"
status=0
"$harness" --minutes "$minutes" --seed "$seed" --walbridge "$bin" --work "$work" \
    --pg-port "$WALBRIDGE_PG_PORT" --pg-socket "$WALBRIDGE_PG_DIR" --database "$db" --pg-ctl "$pg_ctl_command" || status=$?
drop_database
if [ "$status" = 0 ] && [ "${KEEP_SOAK_WORK:-0}" != 1 ]; then
    rm -rf "$work"
else
    log "soak logs (walbridge.log, broker.log, snapshot-*.log, checkpoint.json) kept in $work"
fi
exit "$status"
