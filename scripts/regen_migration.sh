#!/usr/bin/env bash
# Folds every migration into one initial migration regenerated from the tables.
# A data folder or database made by an earlier build is then no longer migrated
# (its tables exist already): only for a clean start. After changing a table,
# add a migration instead (README, Tests: piccolo migrations new xunjian --auto).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f server/piccolo_migrations/xunjian_*.py
XUNJIAN_DATA_DIR="$tmp" DATABASE_URL= PICCOLO_CONF=piccolo_conf uv run piccolo migrations new xunjian --auto --desc="initial schema" >/dev/null
rm -rf "$tmp"
ls server/piccolo_migrations/xunjian_*.py
