# Helpers the bench scripts share (sourced after scripts/lib.sh): timing,
# per-process CPU and memory, the test broker, and a fresh bench database.
ticks=$(getconf CLK_TCK)
now() { date +%s.%N; }
calc() { printf '%.6f' "$(echo "$*" | bc -l)"; }
cpu_seconds() { awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
peak_rss_mb() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# Starts `walbridge dev-broker` with topic bench.users (6 partitions) in $work;
# sets broker (its PID) and bootstrap (its address). Its stdin stays open on fd 5.
start_test_broker() {  # $1 walbridge binary, $2 work directory
    mkfifo "$2/control"
    "$1" dev-broker --topic bench.users:6 <"$2/control" >"$2/broker.out" 2>/dev/null &
    broker=$!
    exec 5>"$2/control"
    for _ in $(seq 200); do [ -s "$2/broker.out" ] && break; sleep 0.05; done
    bootstrap="$(head -n 1 "$2/broker.out")"
}

stop_test_broker() {
    exec 5>&-
    kill "$broker" 2>/dev/null
    wait "$broker" 2>/dev/null
}

# Drops and creates database $1 with the auth schema and WalBridge's role and publication.
create_bench_database() {
    admin_psql -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
    admin_psql -d postgres -c "CREATE DATABASE $1" >/dev/null
    admin_psql -d "$1" -f - <sql/auth-schema.sql >/dev/null
    admin_psql -d "$1" -v password="$WALBRIDGE_PASSWORD" -f - <sql/walbridge-setup.sql >/dev/null
}

# Writes $work/walbridge.yaml for database $db and the test broker: the users
# mapping on topic bench.users. $1 slot, $2 sslmode, $3 an extra line for the mapping.
write_bench_config() {
    cat >"$work/walbridge.yaml" <<YAML
postgres: {url: "postgres://walbridge:\${WALBRIDGE_PASSWORD}@127.0.0.1:$WALBRIDGE_PG_PORT/$db?sslmode=$2", slot: $1}
kafka: {bootstrap_servers: "$bootstrap"}
checkpoint: {path: "$work/checkpoint.json"}
logging: {level: info, format: json}
mappings:
  - table: public.users
    topic: bench.users
    key: [id]
    events: {insert: UserRegistered, update: UserUpdated, delete: UserDeleted}
    fields: {id: userId, username: username, first_name: firstName, last_name: lastName, email: email}
    ${3:-}
YAML
}
