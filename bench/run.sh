#!/usr/bin/env bash
# WalBridge's benchmark (issue 7): one command that starts its own Postgres
# cluster (15 unless --version N says otherwise) and test broker and measures, in one run on the same WAL:
#   - catch-up throughput of WalBridge (release build) vs pg_recvlogical with
#     pgoutput: ROWS single-row transactions, and one ROWS-row transaction;
#     each from process start until it has the workload's end LSN (WalBridge:
#     the slot's confirmed_flush_lsn passes it, so delivery to Kafka is included);
#   - peak RSS (VmHWM) of WalBridge catching up on one BIG_ROWS-row transaction;
#   - startup time to the "streaming" log line, and idle CPU over IDLE_SECONDS;
#   - commit-to-consume latency at a steady 500 and 5,000 rows/s (pgbench --rate,
#     synchronous_commit=on; commit time from the event's occurredAt, consume
#     time from a consumer in walbridge-bench), p50/p99/max.
# Prints a Markdown table; writes bench/results/latest.json and latest.md.
# Then runs bench/snapshot.sh (backfill of 1,000,000 rows, issue 8).
#
#   bash bench/run.sh   (settings: ROWS=200000 BIG_ROWS=1000000 LATENCY_SECONDS=20 IDLE_SECONDS=10 SSLMODE=disable)
#   CATCH_UP_ONLY=1 bash bench/run.sh --version 17   only the two catch-up ratios (bench/versions.sh runs it per version)
# Its own cluster per Postgres version (--version N or PG_VERSION=N, 15 by default):
# /tmp/walbridge-bench-pg and port 54339 for 15, /tmp/walbridge-bench-pg<N> and 54339 + (N - 15) otherwise.
export WALBRIDGE_PG_DIR="${WALBRIDGE_BENCH_PG_DIR:-}" WALBRIDGE_PG_PORT="${WALBRIDGE_BENCH_PG_PORT:-}"
export WALBRIDGE_PG_DIR_BASE=/tmp/walbridge-bench-pg WALBRIDGE_PG_PORT_BASE=54339
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
take_version_option "$@"
source "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"
rows="${ROWS:-200000}"
big_rows="${BIG_ROWS:-1000000}"
latency_seconds="${LATENCY_SECONDS:-20}"
idle_seconds="${IDLE_SECONDS:-10}"
cd "$WALBRIDGE_ROOT"
bash scripts/start-postgres.sh >/dev/null
log "building (release)"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
swift build -c release --product walbridge-bench --scratch-path .build-release >/dev/null 2>&1
bin="$WALBRIDGE_ROOT/.build-release/release/walbridge"
harness="$WALBRIDGE_ROOT/.build-release/release/walbridge-bench"
work="$(mktemp -d)"
chmod 755 "$work"   # pg_recvlogical and pgbench run as postgres
results="$WALBRIDGE_ROOT/bench/results"
mkdir -p "$results"
db=walbridge_bench
# Both consumers connect the same way: TCP on loopback as the walbridge role,
# TLS off by default (SSLMODE=require measures both with TLS).
sslmode="${SSLMODE:-disable}"
source_url="postgresql://walbridge@127.0.0.1:$WALBRIDGE_PG_PORT/$db?sslmode=$sslmode"

start_test_broker "$bin" "$work"
cleanup() {
    [ -n "${bridge:-}" ] && kill -TERM "$bridge" 2>/dev/null && wait "$bridge" 2>/dev/null
    stop_test_broker
    admin_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# A fresh database with the bench table, the publication and both slots.
fresh_database() {
    create_bench_database "$db"
    admin_psql -d "$db" -c "SELECT pg_create_logical_replication_slot('bench_walbridge', 'pgoutput')" \
        -c "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')" >/dev/null
    rm -f "$work/checkpoint.json"
    write_bench_config bench_walbridge "$sslmode"
}

insert_values="SELECT 'user' || g, 'First', 'Last', 'user' || g || '@example.com', 'hash' FROM generate_series(1, N) g"
workload() {  # $1 rows, $2 single|many
    if [ "$2" = single ]; then
        admin_psql -d "$db" -c "INSERT INTO users (username, first_name, last_name, email, password_hash) ${insert_values/N/$1}" >/dev/null
    else
        admin_psql -d "$db" -c "DO \$\$ BEGIN FOR g IN 1..$1 LOOP INSERT INTO users (username, first_name, last_name, email, password_hash) VALUES ('user' || g, 'First', 'Last', 'user' || g || '@example.com', 'hash'); COMMIT; END LOOP; END \$\$" >/dev/null
    fi
}

# Catch-up of both consumers on the same WAL. Sets recv_s, bridge_s, bridge_cpu_s, bridge_rss_mb, broker_cpu_s.
catch_up() {  # $1 rows, $2 single|many
    fresh_database
    workload "$1" "$2"
    local end start
    end="$(admin_psql -d "$db" -tAc "SELECT pg_current_wal_insert_lsn()")"
    start=$(now)
    as_pg_user env PGPASSWORD="$WALBRIDGE_PASSWORD" "$PG_BIN/pg_recvlogical" -d "$source_url" --slot bench_recvlogical \
        --start -o proto_version=1 -o publication_names=walbridge -P pgoutput -E "$end" -f /dev/null
    recv_s=$(calc "$(now) - $start")
    start=$(now)
    local broker_before; broker_before=$(cpu_seconds "$broker")
    "$bin" run --config "$work/walbridge.yaml" 2>"$work/bridge.log" &
    bridge=$!
    until [ "$(admin_psql -d "$db" -tAc "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'bench_walbridge'")" = t ]; do
        kill -0 "$bridge" 2>/dev/null || { cat "$work/bridge.log" >&2; exit 1; }
        sleep 0.01
    done
    bridge_s=$(calc "$(now) - $start")
    bridge_cpu_s=$(cpu_seconds "$bridge")
    bridge_rss_mb=$(peak_rss_mb "$bridge")
    broker_cpu_s=$(calc "$(cpu_seconds "$broker") - $broker_before")
    kill -TERM "$bridge"; wait "$bridge" || true; bridge=
    cp "$work/bridge.log" "$results/walbridge-catchup-$1-$2.log"
}

log "throughput: $rows single-row transactions"
catch_up "$rows" many
many_recv=$recv_s many_bridge=$bridge_s many_cpu=$bridge_cpu_s many_broker_cpu=$broker_cpu_s
log "throughput: one $rows-row transaction"
catch_up "$rows" single
single_recv=$recv_s single_bridge=$bridge_s single_cpu=$bridge_cpu_s single_broker_cpu=$broker_cpu_s
if [ "${CATCH_UP_ONLY:-0}" = 1 ]; then
    server_version="$(admin_psql -d postgres -tAc "SHOW server_version")"
    {
        echo "Postgres $server_version ($PG_BIN); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD); $(date -u +%Y-%m-%d); sslmode=$sslmode."
        echo
        echo "| measurement | pg_recvlogical $server_version | WalBridge | ratio / target |"
        echo "|---|---|---|---|"
        printf '| %s single-row transactions | %.2f s (%.0f rows/s) | %.2f s (%.0f events/s; CPU %.2f s) | %.2f (≥ 0.9) |\n' "$rows" \
            "$many_recv" "$(calc "$rows / $many_recv")" "$many_bridge" "$(calc "$rows / $many_bridge")" "$many_cpu" "$(calc "$many_recv / $many_bridge")"
        printf '| one %s-row transaction | %.2f s (%.0f rows/s) | %.2f s (%.0f events/s; CPU %.2f s) | %.2f (≥ 0.9) |\n' "$rows" \
            "$single_recv" "$(calc "$rows / $single_recv")" "$single_bridge" "$(calc "$rows / $single_bridge")" "$single_cpu" "$(calc "$single_recv / $single_bridge")"
    } | tee "$results/catch-up-$PG_VERSION.md"
    exit 0
fi
log "peak RSS: one $big_rows-row transaction"
catch_up "$big_rows" single; mv "$results/walbridge-catchup-$big_rows-single.log" "$results/walbridge-rss-$big_rows.log"
big_recv=$recv_s big_bridge=$bridge_s big_rss=$bridge_rss_mb

log "startup, idle CPU, latency"
fresh_database
start=$(now)
"$bin" run --config "$work/walbridge.yaml" 2>"$work/bridge.log" &
bridge=$!
until grep -q '"msg":"streaming"' "$work/bridge.log" 2>/dev/null; do
    kill -0 "$bridge" 2>/dev/null || { cat "$work/bridge.log" >&2; exit 1; }
    sleep 0.002
done
startup_ms=$(calc "($(now) - $start) * 1000")
sleep 2
cpu_before=$(cpu_seconds "$bridge")
sleep "$idle_seconds"
idle_cpu_pct=$(calc "($(cpu_seconds "$bridge") - $cpu_before) * 100 / $idle_seconds")

echo "INSERT INTO users (username, first_name, last_name, email, password_hash) VALUES ('u' || :client_id || '-' || random(), 'First', 'Last', 'e' || :client_id || '-' || random(), 'hash');" >"$work/insert.sql"
latency() {  # $1 rows/s → JSON
    "$harness" latency --bootstrap-servers "$bootstrap" --topic bench.users --seconds "$((latency_seconds + 3))" >"$work/latency.json" &
    local consumer=$!
    sleep 2
    as_pg_user env PGOPTIONS="-c synchronous_commit=on" "$PG_BIN/pgbench" -n -h "$WALBRIDGE_PG_DIR" -p "$WALBRIDGE_PG_PORT" -U postgres \
        -c 4 -j 2 -R "$1" -T "$latency_seconds" -f "$work/insert.sql" "$db" >/dev/null 2>&1
    wait "$consumer"
    cat "$work/latency.json"
}
lat500=$(latency 500)
lat5000=$(latency 5000)
field() { echo "$1" | sed -E "s/.*\"$2\":([0-9.e+-]+).*/\\1/"; }

cpu_model="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
cat >"$results/latest.json" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git rev-parse --short HEAD)",
  "sslmode": "$sslmode",
  "machine": {"cpus": $(nproc), "cpuModel": "$cpu_model", "memoryMB": $(awk '/MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo), "loadAverage": "$(cut -d' ' -f1-3 /proc/loadavg)"},
  "throughput": {
    "singleRowTransactions": {"rows": $rows, "pgRecvlogicalSeconds": $many_recv, "walbridgeSeconds": $many_bridge, "walbridgeCpuSeconds": $many_cpu, "testBrokerCpuSeconds": $many_broker_cpu,
      "pgRecvlogicalRowsPerSecond": $(calc "$rows / $many_recv"), "walbridgeEventsPerSecond": $(calc "$rows / $many_bridge"), "ratio": $(calc "$many_recv / $many_bridge")},
    "oneTransaction": {"rows": $rows, "pgRecvlogicalSeconds": $single_recv, "walbridgeSeconds": $single_bridge, "walbridgeCpuSeconds": $single_cpu, "testBrokerCpuSeconds": $single_broker_cpu,
      "pgRecvlogicalRowsPerSecond": $(calc "$rows / $single_recv"), "walbridgeEventsPerSecond": $(calc "$rows / $single_bridge"), "ratio": $(calc "$single_recv / $single_bridge")}
  },
  "peakRSS": {"rows": $big_rows, "walbridgeMB": $big_rss, "walbridgeSeconds": $big_bridge, "pgRecvlogicalSeconds": $big_recv},
  "latency": {"rate500": $lat500, "rate5000": $lat5000},
  "startupMilliseconds": $startup_ms,
  "idleCpuPercent": $idle_cpu_pct
}
JSON
{
    echo "Machine: $(nproc) CPUs ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD); $(date -u +%Y-%m-%d); both consumers over TCP loopback, sslmode=$sslmode."
    echo
    echo "| measurement | pg_recvlogical | WalBridge | ratio / target |"
    echo "|---|---|---|---|"
    printf '| %s single-row transactions | %.2f s (%.0f rows/s) | %.2f s (%.0f events/s; CPU %.2f s, test broker %.2f s) | %.2f (≥ 0.9) |\n' "$rows" \
        "$many_recv" "$(calc "$rows / $many_recv")" "$many_bridge" "$(calc "$rows / $many_bridge")" "$many_cpu" "$many_broker_cpu" "$(calc "$many_recv / $many_bridge")"
    printf '| one %s-row transaction | %.2f s (%.0f rows/s) | %.2f s (%.0f events/s; CPU %.2f s, test broker %.2f s) | %.2f (≥ 0.9) |\n' "$rows" \
        "$single_recv" "$(calc "$rows / $single_recv")" "$single_bridge" "$(calc "$rows / $single_bridge")" "$single_cpu" "$single_broker_cpu" "$(calc "$single_recv / $single_bridge")"
    printf '| latency at 500 rows/s (p50 / p99 / max) | | %.1f / %.1f / %.1f ms (%s events; p99 commit→produce %.1f, produce→consume %.1f) | p99 ≤ 20 ms |\n' \
        "$(field "$lat500" p50Ms)" "$(field "$lat500" p99Ms)" "$(field "$lat500" maxMs)" "$(field "$lat500" count)" \
        "$(field "$lat500" produceP99Ms)" "$(field "$lat500" deliverP99Ms)"
    printf '| latency at 5,000 rows/s (p50 / p99 / max) | | %.1f / %.1f / %.1f ms (%s events; p99 commit→produce %.1f, produce→consume %.1f) | p99 ≤ 50 ms |\n' \
        "$(field "$lat5000" p50Ms)" "$(field "$lat5000" p99Ms)" "$(field "$lat5000" maxMs)" "$(field "$lat5000" count)" \
        "$(field "$lat5000" produceP99Ms)" "$(field "$lat5000" deliverP99Ms)"
    printf '| peak RSS, one %s-row transaction | | %.1f MB (caught up in %.2f s; pg_recvlogical %.2f s) | ≤ 100 MB |\n' "$big_rows" "$big_rss" "$big_bridge" "$big_recv"
    printf '| startup to "streaming" | | %.0f ms | ≤ 200 ms |\n' "$startup_ms"
    printf '| idle CPU (%s s) | | %.2f %% | < 1 %% |\n' "$idle_seconds" "$idle_cpu_pct"
} | tee "$results/latest.md"

# Issue 8: backfill throughput (its own Postgres and broker; writes bench/results/snapshot.{md,json}).
echo
bash "$WALBRIDGE_ROOT/bench/snapshot.sh"
