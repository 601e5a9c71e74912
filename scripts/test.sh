#!/usr/bin/env bash
# The README's second command: installs what is missing, starts the throwaway
# Postgres 15 cluster, then runs the whole test suite (unit and integration;
# the integration tests start their own Kafka-protocol test broker in-process).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash "$WALBRIDGE_ROOT/scripts/start-postgres.sh"
cd "$WALBRIDGE_ROOT"
# The backpressure test pushes 1,000,000 rows through the real binary: it uses
# a release build when there is one (a debug build takes minutes for it).
log "swift build -c release --product walbridge"
swift build -c release --product walbridge --scratch-path .build-release >/dev/null
export WALBRIDGE_RELEASE_BINARY="$WALBRIDGE_ROOT/.build-release/release/walbridge"
log "swift test"
swift test --no-parallel "$@"

# --- Fuzzing (issue 15, docs/fuzzing.md) ------------------------------------
# After the suite: every fuzz target for WALBRIDGE_FUZZ_SECONDS seconds
# (default 60; 0 skips). Builds in .build-fuzz (cached); prints the build
# and run time it adds. A crash fails the script.
fuzz_seconds="${WALBRIDGE_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
    log "scripts/fuzz.sh all $fuzz_seconds"
    fuzz_started=$SECONDS
    bash "$WALBRIDGE_ROOT/scripts/fuzz.sh" all "$fuzz_seconds"
    log "fuzzing added $((SECONDS - fuzz_started)) s"
fi
