#!/usr/bin/env bash
# Stops the throwaway cluster started by start-postgres.sh; `--purge` also deletes it.
#
#   bash scripts/stop-postgres.sh [--version 15|16|17|18] [--purge]   (or PG_VERSION=N)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
take_version_option "$@"
data="$WALBRIDGE_PG_DIR/data"
if [ -x "$PG_BIN/pg_ctl" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
fi
if [ "${SCRIPT_ARGS[0]:-}" = "--purge" ]; then rm -rf "$WALBRIDGE_PG_DIR"; fi
