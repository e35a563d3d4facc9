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
# With the packages' .pyc files, and our own modules' below: the suite starts dozens of server
# processes, and where PYTHONDONTWRITEBYTECODE is set (as on these machines) each would compile
# Litestar, Piccolo and the rest from source again, about a second and a half each.
"${UV[@]}" sync --frozen --quiet --compile-bytecode
"${UV[@]}" run --frozen python -m compileall -q server sync tests scripts >/dev/null
log "static checks: ruff (unused and undefined names, syntax)"
"${UV[@]}" run --frozen ruff check --quiet server sync tests scripts

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
pg_suite_pid=
cleanup() {
  # Interrupted while the PostgreSQL half runs in the background: end it, its servers and browsers too.
  if [ -n "$pg_suite_pid" ]; then
    kill -TERM -- "-$pg_suite_pid" 2>/dev/null || true
    wait "$pg_suite_pid" 2>/dev/null || true
  fi
  as_pg "'$PGBIN/pg_ctl' -D '$PGTMP/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT
log "starting PostgreSQL ($PGBIN) on 127.0.0.1:$PGPORT"
as_pg "'$PGBIN/initdb' -D '$PGTMP/data' -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
as_pg "'$PGBIN/pg_ctl' -D '$PGTMP/data' -l '$PGTMP/log' -w -o \"-p $PGPORT -k '$PGTMP' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null

# pytest exits 5 when it collected no test: that is a failure here too (a
# suite that ran nothing proves nothing), so it is reported and kept.
check_suite() {  # name, pytest's exit code
  if [ "$2" -eq 5 ]; then echo "no tests ran on $1" >&2; fi
  return "$2"
}
run_suite() {
  local name=$1; shift
  log "test suite on $name"
  local rc=0
  "$@" || rc=$?
  check_suite "$name" "$rc"
}

sqlite_suite=(env -u DATABASE_URL XUNJIAN_TEST_PG= "${UV[@]}" run --frozen pytest "$@")
pg_suite=(env XUNJIAN_TEST_PG="postgresql://postgres@127.0.0.1:$PGPORT/postgres" "${UV[@]}" run --frozen pytest "$@")

# With two cores or more the halves run at once: they share only the PostgreSQL cluster
# (each pytest makes its own data directory, database, ports and browser profiles), and
# each spends most of its time waiting on servers, browsers and subprocesses rather than
# computing. The PostgreSQL half's output is kept and shown after the SQLite half's.
# XUNJIAN_TEST_SERIAL=1 runs them one after the other, output as it comes.
status=0
if [ "${XUNJIAN_TEST_SERIAL:-0}" != 1 ] && [ "$(nproc)" -ge 2 ]; then
  pg_log="$PGTMP/pytest-postgresql.log"
  log "test suite on PostgreSQL started alongside (its output follows SQLite's)"
  set -m  # its own process group, so an interruption can end it with everything it started
  "${pg_suite[@]}" >"$pg_log" 2>&1 </dev/null &
  pg_suite_pid=$!
  set +m
  run_suite SQLite "${sqlite_suite[@]}" || status=$?
  pg_rc=0
  wait "$pg_suite_pid" || pg_rc=$?
  pg_suite_pid=
  log "test suite on PostgreSQL"
  cat "$pg_log"
  check_suite PostgreSQL "$pg_rc" || status=$?
else
  run_suite SQLite "${sqlite_suite[@]}" || status=$?
  run_suite PostgreSQL "${pg_suite[@]}" || status=$?
fi
exit $status
