#!/usr/bin/env bash
# Until the first release, the schema is one initial migration regenerated from
# the tables. Run after changing any table; review the diff; commit it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f server/piccolo_migrations/xunjian_*.py
XUNJIAN_DATA_DIR="$tmp" DATABASE_URL= PICCOLO_CONF=piccolo_conf uv run piccolo migrations new xunjian --auto --desc="initial schema" >/dev/null
rm -rf "$tmp"
ls server/piccolo_migrations/xunjian_*.py
