#!/usr/bin/env bash
# The README's second command: installs what is missing, starts the throwaway
# Postgres 15 cluster, then runs the whole test suite (unit and integration;
# the integration tests start their own Kafka-protocol test broker in-process).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash "$WALBRIDGE_ROOT/scripts/start-postgres.sh"
cd "$WALBRIDGE_ROOT"
log "swift test"
swift test "$@"
