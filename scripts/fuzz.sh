#!/usr/bin/env bash
# Builds (cached in .build-fuzz) and runs one fuzz target, or each of them:
#   scripts/fuzz.sh TARGET SECONDS      TARGET: pgoutput values config checkpoint http
#   scripts/fuzz.sh all SECONDS
#   WALBRIDGE_FUZZ_JOBS=2 scripts/fuzz.sh all SECONDS   two targets at a time (default 1)
# Targets: docs/fuzzing.md. The corpus grows in .build-fuzz/corpus/TARGET (seeded
# by fuzz/make-corpus.py and fuzz/corpus/TARGET); a crash is written to
# .build-fuzz/artifacts/TARGET/ and makes the script fail (exit 1).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WALBRIDGE_ROOT"

targets=(pgoutput values config checkpoint http)
target="${1:-}"
seconds="${2:-60}"
if [ "$target" = all ]; then
    selected=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $target "* ]] && [ -n "$target" ]; then
    selected=("$target")
else
    names="${targets[*]}"
    echo "usage: scripts/fuzz.sh {all|${names// /|}} [SECONDS]" >&2
    exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

jobs="${WALBRIDGE_FUZZ_JOBS:-1}"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "WALBRIDGE_FUZZ_JOBS must be a whole number above 0, not '$jobs'" >&2; exit 2; }

scratch="$WALBRIDGE_ROOT/.build-fuzz"
mkdir -p "$scratch"
build_log="$scratch/build.log"
started=$SECONDS
# Every target is built before any runs, so the runs do not share the cores with a build.
for name in "${selected[@]}"; do
    log "build fuzz-$name"
    # WALBRIDGE_FUZZ=1 adds the fuzz targets to Package.swift (and only then).
    # --sanitize=fuzzer makes SwiftPM link libFuzzer's main. The sanitizers go to
    # swiftc in ONE flag: given `-sanitize=fuzzer -sanitize=address` (what
    # `--sanitize` twice passes), swiftc 6.3 keeps only the last one, and
    # without the fuzzer one there is no coverage to guide libFuzzer.
    if ! WALBRIDGE_FUZZ=1 swift build --scratch-path "$scratch" --product "fuzz-$name" \
            --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address >"$build_log" 2>&1; then
        grep -v "Cannot export local symbol" "$build_log" | tail -40 >&2
        echo "fuzz-$name: build failed (full log: $build_log)" >&2
        exit 1
    fi
done
build_seconds=$((SECONDS - started))
echo "built ${#selected[@]} fuzz target(s) in $build_seconds s"

# Runs target $1 for $seconds s; its one-line result goes to $scratch/result-$1, and
# the file $scratch/failed-$1 exists when it found a crash (or a hang, or a leak).
run_target() {
    local name="$1" corpus="$scratch/corpus/$1" seeds="$scratch/seeds/$1" artifacts="$scratch/artifacts/$1"
    local run_log="$scratch/run-$1.log" began=$SECONDS runs
    rm -rf "$seeds" "$scratch/failed-$name"
    mkdir -p "$corpus" "$seeds" "$artifacts" "fuzz/corpus/$name"
    python3 fuzz/make-corpus.py "$scratch/seeds" "$name"
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a runaway allocation.
    if "$scratch/debug/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$artifacts/" \
            "$corpus" "$seeds" "fuzz/corpus/$name" >"$run_log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log")
        echo "fuzz-$name: $runs executions in $((SECONDS - began)) s, corpus $(ls "$corpus" | wc -l) inputs, no crash" >"$scratch/result-$name"
    else
        { grep -v "^#[0-9]" "$run_log" | tail -40
          echo "fuzz-$name: FAILED — input in $artifacts (log: $run_log); make it a regression test"; } >"$scratch/result-$name"
        touch "$scratch/failed-$name"
    fi
}

log "run ${#selected[@]} fuzz target(s) for $seconds s each, $jobs at a time"
started=$SECONDS
running=()
for name in "${selected[@]}"; do
    while [ "${#running[@]}" -ge "$jobs" ]; do
        wait -n || true
        still=()
        for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && still+=("$pid"); done
        running=(${still[@]+"${still[@]}"})
    done
    run_target "$name" &
    running+=($!)
done
wait
run_seconds=$((SECONDS - started))
status=0
for name in "${selected[@]}"; do
    cat "$scratch/result-$name" 2>/dev/null || { echo "fuzz-$name: the run left no result (see $scratch/run-$name.log)"; status=1; }
    [ -e "$scratch/failed-$name" ] && status=1
    rm -f "$scratch/result-$name" "$scratch/failed-$name"
done
echo "fuzzing: ${#selected[@]} target(s), $jobs at a time, build ${build_seconds} s, runs ${run_seconds} s"
exit $status
