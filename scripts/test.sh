#!/usr/bin/env bash
# The README's second command (and CI's, through .ci/run): installs what is
# missing, builds once (the debug build with the tests, and the release binary
# the backpressure test pushes 1,000,000 rows through), checks the monitoring
# files (scripts/check-monitoring.sh: the alert rules and their promtool tests,
# compose's Prometheus config, the dashboard), then runs, one version at a time,
# each against that version's own throwaway cluster:
#   Postgres 15          the whole suite (unit and integration)
#   Postgres 16, 17, 18  the integration suite (IntegrationTests)
# The integration tests start their own Kafka-protocol test broker in-process.
# Each version's run is labelled and timed; a failure on any version fails the
# script, after every version has run (so does a failed monitoring check). Then
# the fuzz targets and, beside them, two 3-minute soaks (scripts/soak.sh: a
# fixed seed and the seed of the day).
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
failed=()

# The monitoring files (scripts/check-monitoring.sh: promtool on the alert rules,
# their unit tests and compose's Prometheus config; the dashboard's JSON). Seconds.
printf '\n\033[1m======== monitoring ========\033[0m\n' >&2
monitoring_start=$SECONDS
if bash scripts/check-monitoring.sh; then result=passed; else result=FAILED; failed+=("monitoring"); fi
summary+=("monitoring (alert rules and their tests, Prometheus config, dashboard): $result in $(duration $((SECONDS - monitoring_start)))")

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

# --- Fuzzing and the randomised soak (issue 15) -------------------------------
# After the suites, side by side (each is bound by its own clock, not by CPU, so
# sharing the two cores shortens the run without weakening either):
# - fuzzing (docs/fuzzing.md): every fuzz target for WALBRIDGE_FUZZ_SECONDS
#   seconds (default 60; 0 skips). Builds in .build-fuzz (cached); a crash fails
#   the script. Its output is shown once it ends.
# - the soak (docs/delivery.md#the-randomised-soak): two soaks of
#   WALBRIDGE_SOAK_MINUTES minutes (default 3; 0 skips), one with the fixed seed
#   15 and one with the seed of the day (UTC date, YYYYMMDD), on their own
#   cluster (/tmp/walbridge-soak-pg, port 54349). A violation fails the script.
# Both are skipped when test options were given, unless their variable is set.
fuzz_seconds="${WALBRIDGE_FUZZ_SECONDS:-60}"
fuzz_pid=
if [ "$fuzz_seconds" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_FUZZ_SECONDS:-}" ]; }; then
    fuzz_log="$(mktemp)"
    log "fuzzing in the background (${fuzz_seconds} s per target; output when it ends)"
    (
        started=$(date +%s)
        if bash "$WALBRIDGE_ROOT/scripts/fuzz.sh" all "$fuzz_seconds" >"$fuzz_log" 2>&1; then echo passed; else echo FAILED; fi >"$fuzz_log.result"
        echo $(($(date +%s) - started)) >"$fuzz_log.seconds"
    ) &
    fuzz_pid=$!
fi

soak_minutes="${WALBRIDGE_SOAK_MINUTES:-3}"
if [ "$soak_minutes" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_SOAK_MINUTES:-}" ]; }; then
    for soak_seed in 15 "$(date -u +%Y%m%d)"; do
        printf '\n\033[1m======== soak, seed %s ========\033[0m\n' "$soak_seed" >&2
        soak_started=$SECONDS
        if bash "$WALBRIDGE_ROOT/scripts/soak.sh" --minutes "$soak_minutes" --seed "$soak_seed"; then result=passed; else result=FAILED; failed+=("soak (seed $soak_seed)"); fi
        summary+=("soak, $soak_minutes min, seed $soak_seed: $result in $(duration $((SECONDS - soak_started)))")
    done
fi

if [ -n "$fuzz_pid" ]; then
    wait "$fuzz_pid"
    printf '\n\033[1m======== fuzzing ========\033[0m\n' >&2
    cat "$fuzz_log" >&2
    result="$(cat "$fuzz_log.result" 2>/dev/null || echo FAILED)"
    [ "$result" = passed ] || failed+=("fuzzing")
    summary+=("fuzzing (${fuzz_seconds} s per target, beside the soak): $result in $(duration "$(cat "$fuzz_log.seconds" 2>/dev/null || echo 0)")")
    rm -f "$fuzz_log" "$fuzz_log.result" "$fuzz_log.seconds"
fi

printf '\n\033[1m======== summary ========\033[0m\n' >&2
printf '  %s\n' "${summary[@]}" "total: $(duration $((SECONDS - run_start)))" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
log "every version passed: ${versions[*]}"
