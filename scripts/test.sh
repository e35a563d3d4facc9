#!/usr/bin/env bash
# Sets up and runs every Xunjian test: first on SQLite, then on a throwaway
# PostgreSQL cluster; browser tests drive Debian's Chromium.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# uv: from PATH, or installed with pip into this Python.
if command -v uv >/dev/null 2>&1; then UV=(uv); else
  python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
  UV=(python3 -m uv)
fi
log "installing the locked dependencies"
"${UV[@]}" sync --frozen --quiet

# System packages the tests need: Chromium and PostgreSQL (only as root, with apt).
need=()
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (install them, or run as root with apt-get)" >&2
    exit 1
  fi
fi

# A throwaway PostgreSQL cluster on 127.0.0.1, owned by the postgres user
# (PostgreSQL refuses to run as root).
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
PGTMP=$(mktemp -d /tmp/xunjian-pg.XXXXXX)
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PGTMP"
cleanup() {
  as_pg "'$PGBIN/pg_ctl' -D '$PGTMP/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT
log "starting PostgreSQL ($PGBIN) on 127.0.0.1:$PGPORT"
as_pg "'$PGBIN/initdb' -D '$PGTMP/data' -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
as_pg "'$PGBIN/pg_ctl' -D '$PGTMP/data' -l '$PGTMP/log' -w -o \"-p $PGPORT -k '$PGTMP' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null

# pytest exits 5 when it collected no test: that is a failure here too (a
# suite that ran nothing proves nothing), so it is reported and kept.
run_suite() {
  local name=$1; shift
  log "test suite on $name"
  set +e
  "$@"
  local rc=$?
  set -e
  if [ $rc -eq 5 ]; then echo "no tests ran on $name" >&2; fi
  return $rc
}

status=0
run_suite SQLite env -u DATABASE_URL XUNJIAN_TEST_PG= "${UV[@]}" run --frozen pytest "$@" || status=$?
run_suite PostgreSQL env XUNJIAN_TEST_PG="postgresql://postgres@127.0.0.1:$PGPORT/postgres" \
  "${UV[@]}" run --frozen pytest "$@" || status=$?
exit $status
