#!/usr/bin/env bash
# The catch-up ratios on every supported Postgres (issue 13): for each version,
# bench/run.sh with CATCH_UP_ONLY=1 against that version's own cluster and its
# own pg_recvlogical on the same WAL. Prints one table per version and writes
# bench/results/catch-up-<N>.md.
#
#   bash bench/versions.sh            (15 16 17 18; BENCH_VERSIONS="17 18" for a subset; ROWS=200000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for version in ${BENCH_VERSIONS:-15 16 17 18}; do
    printf '\n### Postgres %s\n\n' "$version"
    CATCH_UP_ONLY=1 bash bench/run.sh --version "$version" | grep -v '^==>'
done
