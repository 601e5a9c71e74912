#!/bin/sh
# Runs once, when the compose Postgres initialises its data directory (after
# 10-auth-schema.sql): the least-privilege walbridge role and the publication.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -v password="$WALBRIDGE_PASSWORD" -f /walbridge-sql/walbridge-setup.sql
