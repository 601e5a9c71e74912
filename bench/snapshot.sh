#!/usr/bin/env bash
# WalBridge's backfill benchmark (issue 8): one command that starts its own
# Postgres cluster (15 unless --version N says otherwise) and test broker, fills a table with SNAPSHOT_ROWS rows and
# measures `walbridge snapshot` (release build) from process start until it
# exits 0, i.e. until Kafka acknowledged every row's event. As a reference on
# the same machine and table it times `COPY (SELECT <the mapped columns> ...) TO
# STDOUT` through psql: reading the rows at all, with nothing published.
# Prints a Markdown table; writes bench/results/snapshot.json and snapshot.md.
#
#   bash bench/snapshot.sh   (settings: SNAPSHOT_ROWS=1000000 CHUNK_SIZE=10000)
# Its own cluster per Postgres version (--version N or PG_VERSION=N, 15 by default):
# /tmp/walbridge-snapshot-bench-pg and port 54349 for 15, /tmp/walbridge-snapshot-bench-pg<N> and 54349 + (N - 15) otherwise.
export WALBRIDGE_PG_DIR="${WALBRIDGE_SNAPSHOT_BENCH_PG_DIR:-}" WALBRIDGE_PG_PORT="${WALBRIDGE_SNAPSHOT_BENCH_PG_PORT:-}"
export WALBRIDGE_PG_DIR_BASE=/tmp/walbridge-snapshot-bench-pg WALBRIDGE_PG_PORT_BASE=54349
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
take_version_option "$@"
source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"
rows="${SNAPSHOT_ROWS:-1000000}"
chunk="${CHUNK_SIZE:-10000}"
cd "$WALBRIDGE_ROOT"
bash scripts/start-postgres.sh >/dev/null
log "building (release)"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
bin="$WALBRIDGE_ROOT/.build-release/release/walbridge"
work="$(mktemp -d)"
results="$WALBRIDGE_ROOT/bench/results"
mkdir -p "$results"
db=walbridge_snapshot_bench

start_test_broker "$bin" "$work"
cleanup() {
    stop_test_broker
    admin_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

create_bench_database "$db"
log "filling users with $rows rows"
admin_psql -d "$db" -c "INSERT INTO users (username, first_name, last_name, email, password_hash)
    SELECT 'user' || g, 'First' || g, 'Last' || g, 'user' || g || '@example.com', 'hash' FROM generate_series(1, $rows) g" >/dev/null
admin_psql -d "$db" -c "VACUUM ANALYZE users" >/dev/null
write_bench_config bench_snapshot disable "snapshot: {event: UserSnapshotted, chunk_size: $chunk}"

log "reference: COPY of the mapped columns"
start=$(now)
PGPASSWORD="$WALBRIDGE_PASSWORD" "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$WALBRIDGE_PG_PORT" -U walbridge -d "$db" \
    -c "COPY (SELECT id, username, first_name, last_name, email FROM users ORDER BY id) TO STDOUT" >/dev/null
copy_s=$(calc "$(now) - $start")

log "walbridge snapshot of $rows rows"
broker_before=$(cpu_seconds "$broker")
start=$(now)
"$bin" snapshot --config "$work/walbridge.yaml" 2>"$work/snapshot.log" &
pid=$!
peak_kb=0
while kill -0 "$pid" 2>/dev/null; do
    kb=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    cpu=$(awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$pid/stat" 2>/dev/null || echo "$cpu")
    [ "${kb:-0}" -gt "$peak_kb" ] && peak_kb=$kb
    sleep 0.05
done
wait "$pid" || { cat "$work/snapshot.log" >&2; exit 1; }
snapshot_s=$(calc "$(now) - $start")
broker_cpu=$(calc "$(cpu_seconds "$broker") - $broker_before")
cp "$work/snapshot.log" "$results/walbridge-snapshot-$rows.log"
rate=$(calc "$rows / $snapshot_s")
cpu_model="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
cat >"$results/snapshot.json" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git rev-parse --short HEAD)",
  "machine": {"cpus": $(nproc), "cpuModel": "$cpu_model", "loadAverage": "$(cut -d' ' -f1-3 /proc/loadavg)"},
  "rows": $rows, "chunkSize": $chunk,
  "walbridgeSeconds": $snapshot_s, "walbridgeRowsPerSecond": $rate, "walbridgeCpuSeconds": ${cpu:-0}, "testBrokerCpuSeconds": $broker_cpu,
  "walbridgePeakRssMB": $(calc "$peak_kb / 1024"),
  "copySeconds": $copy_s, "copyRowsPerSecond": $(calc "$rows / $copy_s")
}
JSON
{
    echo "Machine: $(nproc) CPUs ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD); $(date -u +%Y-%m-%d)."
    echo
    echo "| measurement | result | target |"
    echo "|---|---|---|"
    printf '| walbridge snapshot, %s rows, chunk_size %s (start to exit 0, every event acknowledged) | %.2f s, **%.0f rows/s** (CPU %.2f s, test broker CPU %.2f s, peak RSS %.1f MB) | ≥ 50,000 rows/s |\n' \
        "$rows" "$chunk" "$snapshot_s" "$rate" "${cpu:-0}" "$broker_cpu" "$(calc "$peak_kb / 1024")"
    printf '| reference: psql COPY of the same columns to /dev/null | %.2f s (%.0f rows/s) | |\n' "$copy_s" "$(calc "$rows / $copy_s")"
} | tee "$results/snapshot.md"
