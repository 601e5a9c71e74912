# Shared settings and helpers for WalBridge's scripts. Sourced, not run.
# Everything here works on a fresh Debian bookworm machine as root, and as an
# ordinary user where the packages are already installed.

set -euo pipefail

WALBRIDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WALBRIDGE_ROOT
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export WALBRIDGE_PG_DIR="${WALBRIDGE_PG_DIR:-/tmp/walbridge-pg}"
export WALBRIDGE_PG_PORT="${WALBRIDGE_PG_PORT:-54329}"
export WALBRIDGE_PASSWORD="${WALBRIDGE_PASSWORD:-walbridge-dev-password}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as the OS user that owns the cluster: Postgres refuses to run as root.
as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Installs what is missing: Postgres 15, the libpq and librdkafka headers, pkg-config.
install_dependencies() {
    local missing=()
    [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql-15)
    [ -x /usr/bin/pg_recvlogical ] || missing+=(postgresql-client-15)
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    [ -f /usr/include/librdkafka/rdkafka_mock.h ] || missing+=(librdkafka-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
            exit 1
        fi
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # Debian's postgresql-common would create and start a default cluster; we run our own.
        mkdir -p /etc/postgresql-common
        [ -f /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The admin connection (superuser over the cluster's Unix socket, trust auth).
admin_psql() {
    as_pg_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WALBRIDGE_PG_DIR" -p "$WALBRIDGE_PG_PORT" -U postgres "$@"
}

# Makes a throwaway CA and a server certificate for 127.0.0.1 and localhost in
# $WALBRIDGE_PG_DIR/tls (once), plus an unrelated CA that must NOT verify the
# server (for the wrong-CA test). Prints nothing; the files are:
#   ca.crt  server.crt  server.key  other-ca.crt
make_test_certificates() {
    local dir="$WALBRIDGE_PG_DIR/tls"
    if [ -f "$dir/ca.crt" ] && [ -f "$dir/server.crt" ] && [ -f "$dir/other-ca.crt" ] \
        && openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1; then
        return 0
    fi
    log "making a throwaway CA and server certificate in $dir"
    mkdir -p "$dir"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=WalBridge test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=Unrelated test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/other-ca.key" -out "$dir/other-ca.crt" 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 3650 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
    rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
    chmod 0644 "$dir"/*.crt
    chmod 0600 "$dir"/*.key
}

# Turns TLS on in the running cluster with the test certificates (idempotent:
# `ssl` is reloadable, so a cluster started without it needs no restart).
enable_postgres_tls() {
    local data="$1"
    make_test_certificates
    install -m 0600 "$WALBRIDGE_PG_DIR/tls/server.key" "$data/server.key"
    install -m 0644 "$WALBRIDGE_PG_DIR/tls/server.crt" "$data/server.crt"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$data/server.key" "$data/server.crt"; fi
    if [ "$(admin_psql -d postgres -tAc "SHOW ssl")" = on ] \
        && [ "$(admin_psql -d postgres -tAc "SHOW ssl_cert_file")" = server.crt ]; then
        admin_psql -d postgres -tAc "SELECT pg_reload_conf()" >/dev/null   # pick up new certificate files
        return 0
    fi
    log "turning on TLS (ssl = on) in $data"
    admin_psql -d postgres -c "ALTER SYSTEM SET ssl_cert_file = 'server.crt'" \
        -c "ALTER SYSTEM SET ssl_key_file = 'server.key'" -c "ALTER SYSTEM SET ssl = on" \
        -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 50); do
        [ "$(admin_psql -d postgres -tAc "SHOW ssl")" = on ] && return 0
        sleep 0.1
    done
    echo "Postgres did not turn ssl on; see $WALBRIDGE_PG_DIR/postgres.log" >&2
    exit 1
}
