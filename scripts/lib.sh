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
