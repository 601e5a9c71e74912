#!/usr/bin/env bash
# The README's second command (and CI's, through .ci/run): installs what is
# missing, builds once (the debug build with the tests, and the release binary
# the backpressure test pushes 1,000,000 rows through), checks the monitoring
# files (scripts/check-monitoring.sh: the alert rules and their promtool tests,
# compose's Prometheus config, the dashboard), then runs
#   the unit tests       once, side by side among themselves
#   Postgres 15 to 18    the integration suite (IntegrationTests) on each, against
#                        that version's own throwaway cluster, two versions side by
#                        side (15 with 16, then 17 with 18; WALBRIDGE_TEST_SIDE_BY_SIDE
#                        sets how many, 1 runs them one after another with the
#                        whole suite on the first), each version's output shown
#                        when it ends
# The integration tests start their own Kafka-protocol test broker in-process.
# Each version's run is labelled and timed; a failure on any version fails the
# script, after every version has run (so does a failed monitoring check); the
# summary at the end repeats what failed (test names and failure lines). Then
# the fuzz targets and, beside them, two 3-minute soaks side by side
# (scripts/soak.sh: a fixed seed on the first version, the seed of the day on the last).
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
        local server
        server="$(admin_psql -d postgres -tAc "SHOW server_version")"
        if [ $# = 0 ]; then
            # The whole suite: the unit tests side by side (they share no cluster,
            # slot or port), then the integration tests one at a time.
            log "Postgres $PG_VERSION ($server, $PG_BIN, port $WALBRIDGE_PG_PORT): swift test --skip-build --skip IntegrationTests, then --no-parallel --filter IntegrationTests"
            unit=0
            logged_swift_test --skip-build --skip IntegrationTests || unit=1
            logged_swift_test --skip-build --no-parallel --filter IntegrationTests || exit 1
            exit "$unit"
        else
            if [ -n "${test_binary:-}" ]; then
                log "Postgres $PG_VERSION ($server, $PG_BIN, port $WALBRIDGE_PG_PORT): ${test_binary#"$WALBRIDGE_ROOT/"} --testing-library swift-testing --no-parallel $*"
            else
                log "Postgres $PG_VERSION ($server, $PG_BIN, port $WALBRIDGE_PG_PORT): swift test --skip-build --no-parallel $*"
            fi
            logged_swift_test --skip-build --no-parallel "$@"
        fi
    )
}

# `swift test "$@"`, its output shown as it comes and kept in $version_log too,
# so that the summary can repeat the failures (a CI log may keep only its end).
# With $test_binary set (side by side), the test binary itself runs instead:
# `swift test` holds SwiftPM's lock on .build even with --skip-build, so a second
# one would wait for the first to end.
logged_swift_test() {
    if [ -n "${test_binary:-}" ]; then
        local arguments=()
        for argument in "$@"; do [ "$argument" = --skip-build ] || arguments+=("$argument"); done
        NO_COLOR=1 "$test_binary" --testing-library swift-testing "${arguments[@]}" 2>&1 | tee -a "$version_log"
    else
        swift test "$@" 2>&1 | tee -a "$version_log"
    fi
    return "${PIPESTATUS[0]}"
}

# The lines of log $1 that say what failed: XCTest's "error:" lines and failed
# test cases, Swift Testing's failed tests and issues, and a crash's signal.
# At most 40, each cut to 300 characters.
failure_lines() {
    grep -a -E ": error: |^Test Case '.*' failed|✘|[Ff]atal error|Exited with (unexpected )?signal|Segmentation fault" "$1" \
        | grep -a -v -E "^Test Suite '.*' failed" | cut -c1-300 | head -n 40
}
failure_dir="$(mktemp -d)"

# Adds version $1's summary line (scope $2, result $3, seconds $4) and, when it
# failed, the failure lines of its log.
summarize_version() {
    summary+=("Postgres $1 ($2): $3 in $(duration "$4")")
    [ "$3" = passed ] || failed+=("$1")
    if [ "$3" != passed ]; then
        while IFS= read -r line; do summary+=("    $line"); done < <(failure_lines "$failure_dir/$1.log")
    fi
}

# How many versions' integration suites run side by side (default 2; 1 runs them
# one after another). They wait on Postgres, the broker and their own timeouts
# far more than they compute: one suite keeps about a quarter of the two cores
# busy, and measured here two side by side took no longer than one alone.
side_by_side="${WALBRIDGE_TEST_SIDE_BY_SIDE:-2}"

if [ $# = 0 ] && [ "${#versions[@]}" -gt 1 ] && [ "$side_by_side" -gt 1 ]; then
    # The unit tests once, side by side among themselves (they share no cluster,
    # slot or port), on the first version's cluster; then the integration suites,
    # $side_by_side versions at a time, each against its own cluster, its output
    # shown when it ends.
    first_version="${versions[0]}"
    printf '\n\033[1m======== unit tests (Postgres %s) ========\033[0m\n' "$first_version" >&2
    start=$SECONDS
    if (select_version "$first_version" && bash scripts/start-postgres.sh && version_log="$failure_dir/unit.log" &&
        logged_swift_test --skip-build --skip IntegrationTests); then
        result=passed
    else
        result=FAILED
        failed+=("unit tests")
    fi
    summary+=("unit tests (Postgres $first_version's cluster): $result in $(duration $((SECONDS - start)))")
    if [ "$result" = FAILED ]; then
        while IFS= read -r line; do summary+=("    $line"); done < <(failure_lines "$failure_dir/unit.log")
    fi
    # Every test is a Swift Testing test, so the binary runs them all; an XCTest
    # one would be missed there, and is refused.
    if grep -rlq "^import XCTest" Tests; then
        echo "error: Tests/ has XCTest tests, which the side-by-side run would miss; write them with Swift Testing, or set WALBRIDGE_TEST_SIDE_BY_SIDE=1" >&2
        exit 1
    fi
    test_binary="$(swift build --show-bin-path)/WalBridgePackageTests.xctest"
    for ((i = 0; i < ${#versions[@]}; i += side_by_side)); do
        batch=("${versions[@]:i:side_by_side}")
        log "Postgres ${batch[*]}: the integration suite$([ ${#batch[@]} -gt 1 ] && echo "s side by side") (output when each ends)"
        pids=()
        for version in "${batch[@]}"; do
            (
                version_log="$failure_dir/$version.log"
                started=$SECONDS
                if run_version "$version" --filter IntegrationTests >"$failure_dir/$version.out" 2>&1; then
                    echo "passed $((SECONDS - started))"
                else
                    echo "FAILED $((SECONDS - started))"
                fi >"$failure_dir/$version.result"
            ) &
            pids+=($!)
        done
        wait "${pids[@]}" || true
        for version in "${batch[@]}"; do
            beside="$(printf '%s\n' "${batch[@]}" | grep -v -x "$version" | paste -s -d, -)"
            beside="${beside:+beside $beside}"
            printf '\n\033[1m======== Postgres %s (integration suite%s) ========\033[0m\n' "$version" "${beside:+, $beside}" >&2
            cat "$failure_dir/$version.out" >&2
            read -r result seconds <"$failure_dir/$version.result" || { result=FAILED; seconds=0; }
            summarize_version "$version" "--filter IntegrationTests${beside:+, $beside}" "$result" "$seconds"
            log "Postgres $version: $result in $(duration "$seconds")"
        done
    done
else
    for version in "${versions[@]}"; do
        if [ $# -gt 0 ]; then
            arguments=("$@")
        elif [ "$version" = "${versions[0]}" ] || [ "${#versions[@]}" = 1 ]; then
            arguments=()
        else
            arguments=(--filter IntegrationTests)
        fi
        printf '\n\033[1m======== Postgres %s ========\033[0m\n' "$version" >&2
        start=$SECONDS
        version_log="$failure_dir/$version.log"
        if run_version "$version" ${arguments[@]+"${arguments[@]}"}; then result=passed; else result=FAILED; fi
        scope="${arguments[*]:-whole suite}"
        summarize_version "$version" "$scope" "$result" $((SECONDS - start))
        log "Postgres $version: $result in $(duration $((SECONDS - start)))"
    done
fi

# --- Fuzzing and the randomised soak (issue 15) -------------------------------
# After the suites, side by side (each is bound by its own clock, not by CPU, so
# sharing the two cores shortens the run without weakening either):
# - fuzzing (docs/fuzzing.md): every fuzz target for WALBRIDGE_FUZZ_SECONDS
#   seconds (default 60; 0 skips), WALBRIDGE_FUZZ_JOBS (default 2) at a time. Builds in .build-fuzz
#   (cached); a crash fails the script. Its output is shown once it ends.
# - the soak (docs/delivery.md#the-randomised-soak): two soaks of
#   WALBRIDGE_SOAK_MINUTES minutes (default 3; 0 skips), one with the fixed seed
#   15 on the first version tested and one with the seed of the day (UTC date,
#   YYYYMMDD) on the last, each on its own soak cluster (/tmp/walbridge-soak-pg
#   and port 54349 for 15, /tmp/walbridge-soak-pg18 and 54352 for 18): side by
#   side when the versions differ, one after the other when they are the same
#   cluster. A violation fails the script.
# Both are skipped when test options were given, unless their variable is set.
fuzz_seconds="${WALBRIDGE_FUZZ_SECONDS:-60}"
fuzz_jobs="${WALBRIDGE_FUZZ_JOBS:-2}"
fuzz_pid=
if [ "$fuzz_seconds" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_FUZZ_SECONDS:-}" ]; }; then
    fuzz_log="$(mktemp)"
    log "fuzzing in the background (${fuzz_seconds} s per target, ${fuzz_jobs} at a time; output when it ends)"
    (
        started=$(date +%s)
        if WALBRIDGE_FUZZ_JOBS="$fuzz_jobs" bash "$WALBRIDGE_ROOT/scripts/fuzz.sh" all "$fuzz_seconds" >"$fuzz_log" 2>&1; then
            echo passed
        else
            echo FAILED
        fi >"$fuzz_log.result"
        echo $(($(date +%s) - started)) >"$fuzz_log.seconds"
    ) &
    fuzz_pid=$!
fi

# Runs soak $1 (seed $2, version $3) in the background; its output goes to
# $soak_dir/$1.log, its result and seconds to $soak_dir/$1.result.
run_soak() {
    (
        started=$SECONDS
        if bash "$WALBRIDGE_ROOT/scripts/soak.sh" --minutes "$soak_minutes" --seed "$2" --version "$3" >"$soak_dir/$1.log" 2>&1; then
            result=passed
        else
            result=FAILED
        fi
        echo "$result $((SECONDS - started))" >"$soak_dir/$1.result"
    ) &
    soak_pids+=($!)
}

# Shows soak $1's output and adds its line to the summary.
report_soak() {
    local seed="$2" version="$3" result seconds
    printf '\n\033[1m======== soak, seed %s, Postgres %s ========\033[0m\n' "$seed" "$version" >&2
    cat "$soak_dir/$1.log" >&2
    read -r result seconds <"$soak_dir/$1.result" || { result=FAILED; seconds=0; }
    [ "$result" = passed ] || failed+=("soak (seed $seed, Postgres $version)")
    summary+=("soak, $soak_minutes min, seed $seed, Postgres $version: $result in $(duration "$seconds")")
}

soak_minutes="${WALBRIDGE_SOAK_MINUTES:-3}"
if [ "$soak_minutes" != 0 ] && { [ $# = 0 ] || [ -n "${WALBRIDGE_SOAK_MINUTES:-}" ]; }; then
    soak_dir="$(mktemp -d)"
    soak_pids=()
    first_version="${versions[0]}"
    last_version="${versions[${#versions[@]} - 1]}"
    day_seed="$(date -u +%Y%m%d)"
    # Built once here, so the two soak.sh builds find nothing to do.
    swift build -c release --product walbridge-soak --scratch-path .build-release >/dev/null
    if [ "$first_version" != "$last_version" ]; then
        log "two soaks side by side: seed 15 on Postgres $first_version, seed $day_seed on Postgres $last_version (output when they end)"
        run_soak fixed 15 "$first_version"
        run_soak day "$day_seed" "$last_version"
        wait "${soak_pids[@]}" || true
    else
        run_soak fixed 15 "$first_version"
        wait "${soak_pids[@]}" || true
        run_soak day "$day_seed" "$last_version"
        wait "${soak_pids[1]}" || true
    fi
    report_soak fixed 15 "$first_version"
    report_soak day "$day_seed" "$last_version"
    rm -rf "$soak_dir"
fi

if [ -n "$fuzz_pid" ]; then
    wait "$fuzz_pid"
    printf '\n\033[1m======== fuzzing ========\033[0m\n' >&2
    cat "$fuzz_log" >&2
    result="$(cat "$fuzz_log.result" 2>/dev/null || echo FAILED)"
    [ "$result" = passed ] || failed+=("fuzzing")
    summary+=("fuzzing (${fuzz_seconds} s per target, ${fuzz_jobs} at a time, beside the soaks): $result in $(duration "$(cat "$fuzz_log.seconds" 2>/dev/null || echo 0)")")
    rm -f "$fuzz_log" "$fuzz_log.result" "$fuzz_log.seconds"
fi

rm -rf "$failure_dir"
printf '\n\033[1m======== summary ========\033[0m\n' >&2
printf '  %s\n' "${summary[@]}" "total: $(duration $((SECONDS - run_start)))" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
log "every version passed: ${versions[*]}"
