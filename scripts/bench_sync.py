"""Benchmark: 10,000 sync ops pushed in batches of 500 through HTTP, next to a raw SQLite executemany.

Usage: uv run python scripts/bench_sync.py [--ops 10000] [--batch 500] [--database-url postgresql://...]

Starts a real server (uvicorn, demo data) on a throw-away data directory, logs
in as the demo guard, and pushes rounds (start, visits with answers, finish) and
findings, as a phone would after a long offline shift. Then inserts as many
one-table rows with one `executemany` into a fresh SQLite file in one
transaction, and (SQLite) each round's own rows into a copy of the database as it
was before that round. Prints the times and the ratios. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
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
    """The issue's floor: as many rows as ops into SQLite with one executemany in one transaction."""
    path = directory / f"raw-{uuid.uuid4().hex[:8]}.sqlite3"
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


def last_rowids(database: Path) -> dict[str, int]:
    """Each table's highest rowid: the rows a push adds are the ones above it."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'")]
        return {name: conn.execute(f'SELECT COALESCE(MAX(rowid), 0) FROM "{name}"').fetchone()[0] for name in names}


def raw_same_rows(database: Path, before: dict[str, int], after: dict[str, int],
                  directory: Path) -> tuple[float, dict[str, int]]:
    """The rows one push round inserted (rowids above `before`, up to `after`), inserted again by
    one executemany per table in one transaction.

    Into a copy of the server's schema (the same tables, indexes and foreign keys, switched on as
    the server has them) that already holds every row written before that round, so each insert
    does the work the server's did: the floor for these rows, with no judging, JSON or HTTP.
    """
    target = directory / f"same-rows-{uuid.uuid4().hex[:8]}.sqlite3"
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as source, \
            closing(sqlite3.connect(target, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                     "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'"):
            conn.execute(sql)
        old, new, insert = {}, {}, {}
        for name, last in before.items():
            columns = [r[1] for r in source.execute(f'PRAGMA table_info("{name}")')]
            insert[name] = f'INSERT INTO "{name}" VALUES (?{", ?" * (len(columns) - 1)})'
            select = f'SELECT rowid, {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{name}" WHERE rowid'
            old[name] = source.execute(f"{select} <= ?", (last,)).fetchall()
            new[name] = source.execute(f"{select} > ? AND rowid <= ?", (last, after[name])).fetchall()
        for name, rows in old.items():  # the parents, untimed (the foreign keys are off while copying them)
            if rows:
                conn.executemany(insert[name], [row[1:] for row in rows])
        conn.execute("PRAGMA foreign_keys = ON")
        written = {name: len(rows) for name, rows in new.items() if rows}
        values = {name: [row[1:] for row in rows] for name, rows in new.items() if rows}
        order = sorted(values, key=lambda n: [min(r[0] for r in new[n])])  # the order the push wrote them in
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for name in order:
            conn.executemany(insert[name], values[name])
        conn.execute("COMMIT")
        return time.perf_counter() - started, written


def push_bodies(phone: Phone, batch: int) -> list[bytes]:
    """The outbox as the request bodies the phone sends, encoded before the clock starts."""
    return [json.dumps({"device_id": phone.device_id, "device_time": phone.stamp(),
                        "ops": phone.outbox[start:start + batch]}).encode()
            for start in range(0, len(phone.outbox), batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="push rounds of --ops each, and raw inserts (medians)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in the data directory)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="xunjian-bench-"))
    database = data_dir / "xunjian.sqlite3"
    proc, url = start_server(data_dir, args.database_url)
    rowids: list[dict[str, int]] = []
    times: list[float] = []
    statuses: dict[str, int] = {}
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            phone = Phone(client, "guard1", batch_size=args.batch).login()
            make_ops(phone, args.ops * args.repeat)
            bodies = push_bodies(phone, args.batch)
            headers = {"Authorization": f"Bearer {phone.token}", "Content-Type": "application/json"}
            per_round = len(bodies) // args.repeat
            for first in range(0, per_round * args.repeat, per_round):
                rowids.append({} if args.database_url else last_rowids(database))
                answers = []
                started = time.perf_counter()
                for body in bodies[first:first + per_round]:
                    response = client.post("/sync/push", content=body, headers=headers)
                    response.raise_for_status()
                    answers.append(response.content)
                times.append(time.perf_counter() - started)
                for content in answers:  # the benchmark's own tally, off the clock
                    for answer in json.loads(content)["results"]:
                        statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
            rowids.append({} if args.database_url else last_rowids(database))
    finally:
        proc.terminate()
        proc.wait(30)
    elapsed = statistics.median(times)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"sync push ({engine}): {args.ops} ops in batches of {args.batch}, {args.repeat} rounds: "
          f"{', '.join(f'{t:.2f}' for t in times)} s; median {elapsed:.2f} s ({args.ops / elapsed:.0f} ops/s, "
          f"{elapsed / per_round * 1000:.0f} ms a batch) {statuses}")
    raws = [raw_executemany(args.ops, data_dir) for _ in range(args.repeat)]
    raw = statistics.median(raws)
    print(f"raw SQLite executemany, {args.ops} sync_op rows in one transaction: "
          f"{', '.join(f'{t * 1000:.0f}' for t in raws)} ms; median {raw * 1000:.0f} ms; sync / raw {elapsed / raw:.1f}x")
    if not args.database_url:
        # Each round against its own rows, inserted into the database as it was before that round:
        # the later rounds write into larger tables and indexes, and so does their floor.
        floors, ratios = [], []
        for index, pushed in enumerate(times):
            runs = [raw_same_rows(database, rowids[index], rowids[index + 1], data_dir) for _ in range(args.repeat)]
            floor, written = statistics.median(t for t, _ in runs), runs[0][1]
            floors.append(floor)
            ratios.append(pushed / floor)
            print(f"raw SQLite executemany, the {sum(written.values())} rows round {index + 1} wrote "
                  f"({', '.join(f'{n} {c}' for n, c in written.items())}), into the same tables as they were "
                  f"before it, in one transaction: {', '.join(f'{t * 1000:.0f}' for t, _ in runs)} ms; "
                  f"median {floor * 1000:.0f} ms; push / raw {ratios[-1]:.1f}x")
        print(f"sync / raw, the same rows: {', '.join(f'{r:.1f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.1f}x (target within 5x)")

if __name__ == "__main__":
    main()
