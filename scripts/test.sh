#!/usr/bin/env bash
# The README's second command (and CI's, through .ci/run): installs what is
# missing, builds once (the debug build with the tests, and the release binary
# the backpressure test pushes 1,000,000 rows through), then runs, one version
# at a time, each against that version's own throwaway cluster:
#   Postgres 15          the whole suite (unit and integration)
#   Postgres 16, 17, 18  the integration suite (IntegrationTests)
# The integration tests start their own Kafka-protocol test broker in-process.
# Each version's run is labelled and timed; a failure on any version fails the
# script, after every version has run. Then the fuzz targets and two 3-minute
# soaks (scripts/soak.sh: a fixed seed and the seed of the day).
#
#   bash scripts/test.sh                       every supported version, as above
#   bash scripts/test.sh --version 17          only 17, the whole suite (or PG_VERSION=17)
#   bash scripts/test.sh --filter CoreFlowTests   other options go to every `swift test`
#                                                 (instead of 16-18's --filter IntegrationTests)
#   WALBRIDGE_TEST_VERSIONS="15 18" bash scripts/test.sh   a chosen set of versions
#   WALBRIDGE_PG_DIR_BASE=/tmp/my-pg WALBRIDGE_PG_PORT_BASE=54359 bash scripts/test.sh
#       clusters of their own (/tmp/my-pg, /tmp/my-pg16, … on 54359, 54360, …), e.g.
#       beside a shared cluster the fault-tolerance tests must not restart
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
requested="${PG_VERSION:-}"
take_version_option "$@"
set -- ${SCRIPT_ARGS[@]+"${SCRIPT_ARGS[@]}"}
if [ -n "$requested" ] || [ "$VERSION_OPTION_GIVEN" = 1 ]; then
    versions=("$PG_VERSION")   # one version asked for: the whole suite on it
else
    read -r -a versions <<<"${WALBRIDGE_TEST_VERSIONS:-${SUPPORTED_PG_VERSIONS[*]}}"
fi
cd "$WALBRIDGE_ROOT"

# Selects version $1's cluster, port and binaries (a preset WALBRIDGE_PG_DIR /
# WALBRIDGE_PG_PORT holds only when one version runs). Call it in a subshell.
select_version() {
    PG_VERSION="$1"
    if [ "${#versions[@]}" -gt 1 ]; then unset WALBRIDGE_PG_DIR WALBRIDGE_PG_PORT; fi
    use_postgres_version
}

# Installs what is missing (through the first version's start-postgres.sh) before building.
(select_version "${versions[0]}" && bash scripts/start-postgres.sh)
run_start=$SECONDS
build_start=$SECONDS
duration() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }
log "swift build --build-tests"
swift build --build-tests >/dev/null
# The backpressure test uses a release build when there is one (a debug build takes minutes for it).
log "swift build -c release --product walbridge"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
export WALBRIDGE_RELEASE_BINARY="$WALBRIDGE_ROOT/.build-release/release/walbridge"
summary=("build: $(duration $((SECONDS - build_start)))")

# Runs the suite for version $1, with the other arguments, against its own cluster.
run_version() {
    (
        select_version "$1"
        shift
        bash scripts/start-postgres.sh || exit 1   # (errexit is off inside `if`)
        log "Postgres $PG_VERSION ($(admin_psql -d postgres -tAc "SHOW server_version"), $PG_BIN, port $WALBRIDGE_PG_PORT): swift test --skip-build --no-parallel${*:+ $*}"
        swift test --skip-build --no-parallel "$@"
    )
}

failed=()
for version in "${versions[@]}"; do
    if [ $# -gt 0 ]; then
        arguments=("$@")
    elif [ "$version" = 15 ] || [ "${#versions[@]}" = 1 ]; then
        arguments=()
    else
        arguments=(--filter IntegrationTests)
    fi
    printf '\n\033[1m======== Postgres %s ========\033[0m\n' "$version" >&2
    start=$SECONDS
    if run_version "$version" ${arguments[@]+"${arguments[@]}"}; then
        result=passed
    else
        result=FAILED
        failed+=("$version")
    fi
    scope="${arguments[*]:-whole suite}"
    summary+=("Postgres $version ($scope): $result in $(duration $((SECONDS - start)))")
    log "Postgres $version: $result in $(duration $((SECONDS - start)))"
done

# --- Fuzzing (issue 15, docs/fuzzing.md) ------------------------------------
# After the suites: every fuzz target for WALBRIDGE_FUZZ_SECONDS seconds
# (default 60; 0 skips; skipped too when test options were given, unless it is
# set). Builds in .build-fuzz (cached); a crash fails the script.
fuzz_seconds="${WALBRIDGE_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_FUZZ_SECONDS:-}" ]; }; then
    printf '\n\033[1m======== fuzzing ========\033[0m\n' >&2
    fuzz_started=$SECONDS
    if bash "$WALBRIDGE_ROOT/scripts/fuzz.sh" all "$fuzz_seconds"; then result=passed; else result=FAILED; failed+=("fuzzing"); fi
    summary+=("fuzzing (${fuzz_seconds} s per target): $result in $(duration $((SECONDS - fuzz_started)))")
fi

# --- The randomised soak (issue 15, docs/delivery.md#the-randomised-soak) ----
# After the suites: two soaks of WALBRIDGE_SOAK_MINUTES minutes (default 3; 0
# skips; skipped too when test options were given, unless it is set), one with
# the fixed seed 15 and one with the seed of the day (UTC date, YYYYMMDD), each
# on its own cluster (/tmp/walbridge-soak-pg, port 54349). A violation fails the script.
soak_minutes="${WALBRIDGE_SOAK_MINUTES:-3}"
if [ "$soak_minutes" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_SOAK_MINUTES:-}" ]; }; then
    for soak_seed in 15 "$(date -u +%Y%m%d)"; do
        printf '\n\033[1m======== soak, seed %s ========\033[0m\n' "$soak_seed" >&2
        soak_started=$SECONDS
        if bash "$WALBRIDGE_ROOT/scripts/soak.sh" --minutes "$soak_minutes" --seed "$soak_seed"; then result=passed; else result=FAILED; failed+=("soak (seed $soak_seed)"); fi
        summary+=("soak, $soak_minutes min, seed $soak_seed: $result in $(duration $((SECONDS - soak_started)))")
    done
fi

printf '\n\033[1m======== summary ========\033[0m\n' >&2
printf '  %s\n' "${summary[@]}" "total: $(duration $((SECONDS - run_start)))" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
log "every version passed: ${versions[*]}"
