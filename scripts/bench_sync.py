"""Benchmark: 10,000 sync ops pushed in batches of 500 through HTTP, next to a raw SQLite executemany.

Usage: uv run python scripts/bench_sync.py [--ops 10000] [--batch 500] [--database-url postgresql://...]

Starts a real server (uvicorn, demo data) on a throw-away data directory, logs
in as the demo guard, and pushes rounds (start, visits with answers, finish) and
findings, as a phone would after a long offline shift. Then inserts the same
number of rows with one `executemany` into a fresh SQLite file in one
transaction. Prints both times and their ratio. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from phone import Phone  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "XUNJIAN_DATA_DIR": str(data_dir), "XUNJIAN_SCHEDULER_SECONDS": "0",
           "XUNJIAN_PUBLIC_URL": f"http://127.0.0.1:{port}", "DATABASE_URL": database_url}
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--demo", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=(data_dir / "server.log").open("ab"), stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit((data_dir / "server.log").read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start")


def make_ops(phone: Phone, total: int) -> None:
    """A shift's worth of rounds: start, 7 visits with answers, a finding, finish (10 ops a round)."""
    body = phone.pull()
    site_id = phone.user["site_ids"][0]
    patrol = next(t for t in body["templates"] if t["code"] == "patrol.core")
    items = (patrol["items"] * 7)[:7]
    while len(phone.outbox) < total:
        round_id = phone.start_round(patrol["id"])
        for item in items:
            phone.visit(round_id, item["checkpoint_id"], proof="none",
                        answers=[{"check_id": c["id"], "ok": True} for c in item["checks"]])
        phone.report(site_id, "garbage", note="垃圾满溢")
        phone.finish_round(round_id)
    del phone.outbox[total:]


def raw_executemany(rows: int, directory: Path) -> float:
    """The floor: the same number of rows into SQLite with one executemany in one transaction."""
    path = directory / "raw.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE sync_op (op_id TEXT PRIMARY KEY, staff TEXT, device_id TEXT, type TEXT, data TEXT, "
                 "at TEXT, device_time TEXT, received_at TEXT, corrected_at TEXT, skew_seconds REAL, status TEXT, "
                 "code TEXT, reason TEXT, state TEXT)")
    stamp = datetime.now(timezone.utc).isoformat()
    staff = str(uuid.uuid4())
    data = [(str(uuid.uuid4()), staff, "bench", "visit.record", json.dumps({"visit_id": str(uuid.uuid4())}), stamp,
             stamp, stamp, stamp, 0.0, "applied", "", "", "") for _ in range(rows)]
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO sync_op VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", data)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in the data directory)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="xunjian-bench-"))
    proc, url = start_server(data_dir, args.database_url)
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            phone = Phone(client, "guard1", batch_size=args.batch).login()
            make_ops(phone, args.ops)
            started = time.perf_counter()
            answers = phone.push()
            elapsed = time.perf_counter() - started
        statuses = {s: sum(1 for a in answers if a["status"] == s) for s in {a["status"] for a in answers}}
        raw = raw_executemany(args.ops, data_dir)
        database = "PostgreSQL" if args.database_url else "SQLite"
        print(f"sync push ({database}): {args.ops} ops in batches of {args.batch}: {elapsed:.2f} s "
              f"({args.ops / elapsed:.0f} ops/s, {elapsed / (args.ops / args.batch) * 1000:.0f} ms a batch) {statuses}")
        print(f"raw SQLite executemany: {args.ops} rows in one transaction: {raw * 1000:.1f} ms "
              f"({args.ops / raw:.0f} rows/s)")
        print(f"ratio sync / raw: {elapsed / raw:.1f}x (target within 5x)")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
