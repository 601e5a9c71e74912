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
