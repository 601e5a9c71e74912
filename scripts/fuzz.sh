#!/usr/bin/env bash
# Builds (cached in .build-fuzz) and runs one fuzz target, or each of them:
#   scripts/fuzz.sh TARGET SECONDS      TARGET: pgoutput values config checkpoint http
#   scripts/fuzz.sh all SECONDS
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

scratch="$WALBRIDGE_ROOT/.build-fuzz"
mkdir -p "$scratch"
build_log="$scratch/build.log"
status=0
build_seconds=0
run_seconds=0
for name in "${selected[@]}"; do
    log "build fuzz-$name"
    started=$SECONDS
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
    echo "fuzz-$name: built in $((SECONDS - started)) s"
    build_seconds=$((build_seconds + SECONDS - started))

    corpus="$scratch/corpus/$name"
    seeds="$scratch/seeds/$name"
    artifacts="$scratch/artifacts/$name"
    rm -rf "$seeds"
    mkdir -p "$corpus" "$seeds" "$artifacts" "fuzz/corpus/$name"
    python3 fuzz/make-corpus.py "$scratch/seeds" "$name"
    log "run fuzz-$name for $seconds s"
    run_log="$scratch/run-$name.log"
    started=$SECONDS
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a runaway allocation.
    if "$scratch/debug/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$artifacts/" \
            "$corpus" "$seeds" "fuzz/corpus/$name" >"$run_log" 2>&1; then
        run_seconds=$((run_seconds + SECONDS - started))
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log")
        echo "fuzz-$name: $runs executions in $((SECONDS - started)) s, corpus $(ls "$corpus" | wc -l) inputs, no crash"
    else
        grep -v "^#[0-9]" "$run_log" | tail -40 >&2
        echo "fuzz-$name: FAILED — input in $artifacts (log: $run_log); make it a regression test" >&2
        run_seconds=$((run_seconds + SECONDS - started))
        status=1
    fi
done
echo "fuzzing: ${#selected[@]} target(s), build ${build_seconds} s, runs ${run_seconds} s"
exit $status
