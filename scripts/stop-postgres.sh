#!/usr/bin/env bash
# Stops the throwaway cluster started by start-postgres.sh; `--purge` also deletes it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data="$WALBRIDGE_PG_DIR/data"
as_pg_user "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
if [ "${1:-}" = "--purge" ]; then rm -rf "$WALBRIDGE_PG_DIR"; fi
