"""Sync apply benchmark (not part of the test run): prints figures, asserts nothing it measures.

The "sync apply" part of scripts/bench.py. scripts/bench_sync.py (the sync
engine's own quick check) compares an HTTP push with a raw SQLite insert; this
one measures on the database the server itself runs on, SQLite or PostgreSQL,
and splits where the time goes. A guard's patrol ops (round.start, visit.record
with QR proof and answers, round.finish) are:

  - pushed through HTTP in batches against a live server process: the whole
    path a phone takes (JSON, auth, judging, one transaction per batch, a
    savepoint and several rows per op);
  - pushed again through the push service in this process, without HTTP and
    JSON, counting the database round trips (statements sent, through Piccolo
    or raw) each op takes: a figure no noise changes;
  - matched by a raw `executemany` of as many sync_op rows in one transaction
    on the same database: the floor any implementation stands on.

The ratio HTTP / raw is issue 8's figure (goal: at most 3x).

    uv run python scripts/bench_apply.py [--ops 10000] [--batch 500] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import Database, Figure, ServerProcess, database_from_args, emit, log, median  # noqa: E402

GOAL_RATIO = 3.0


def patrol_ops(fleet: Any, count: int) -> list[dict[str, Any]]:
    """`count` ops of back-to-back patrol rounds (the last round may be cut short)."""
    from bench_fleet import round_ops

    route = fleet.routes["guard"]
    ops: list[dict[str, Any]] = []
    while len(ops) < count:
        ops += round_ops(route, None, fleet.site_id)
    return ops[:count]


def check_applied(results: list[dict[str, Any]]) -> None:
    statuses = {r["status"] for r in results}
    if statuses != {"applied"}:
        raise RuntimeError(f"push answered {statuses}: {[r for r in results if r['status'] != 'applied'][:3]}")


def push_over_http(server: ServerProcess, token: str, device_id: str, ops: list[dict[str, Any]], batch: int) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=600, headers=headers) as client:
        client.get("/healthz")  # connect before the clock starts
        started = time.perf_counter()
        for start in range(0, len(ops), batch):
            response = client.post("/sync/push", json={
                "device_id": device_id, "device_time": datetime.now(timezone.utc).isoformat(),
                "ops": ops[start:start + batch]})
            response.raise_for_status()
            check_applied(response.json()["results"])
        return time.perf_counter() - started


KINDS = {"INSERT": "writes", "UPDATE": "writes", "DELETE": "writes", "COPY": "writes", "SELECT": "reads",
         "WITH": "reads", "COMMIT": "commits", "fetchall": "reads", "commit": "commits"}


def _kind(args: tuple[Any, ...], function: Any = None) -> str:
    """What a statement does, from its SQL (or, for aiosqlite, the sqlite3 method it calls)."""
    sql = next((a for a in args if isinstance(a, str)), "")
    if "wal_checkpoint" in sql:
        return "checkpoints"  # the app's background task, on its own connection: not on the push's path
    word = sql.split(None, 1)[0].rstrip(";").upper() if sql.strip() else getattr(function, "__name__", "")
    return KINDS.get(word, "other")


def _timed_calls(cls: Any, names: tuple[str, ...], spent: dict[str, list[float]],
                 aiosqlite_hop: bool = False) -> list[tuple[Any, str, Any]]:
    """Wrap these async methods of `cls` to count each call and add its time under its kind; returns what to put back.

    `aiosqlite_hop`: the method is aiosqlite's `_execute(function, *args)`, one hop to the connection's thread.
    """
    saved = []
    for name in names:
        original = getattr(cls, name)

        async def timed(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            kind = _kind(args[1:], args[0]) if aiosqlite_hop else _kind(args)
            started = time.perf_counter()
            try:
                return await __original(self, *args, **kwargs)
            finally:
                entry = spent.setdefault(kind, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        saved.append((cls, name, original))
        setattr(cls, name, timed)
    return saved


async def push_in_process(token: str, device_id: str, ops: list[dict[str, Any]],
                          batch: int) -> tuple[float, dict[str, list[float]]]:
    """Seconds, and the database calls made (count and seconds by kind), for the same ops through sync.push
    without HTTP, with the connections the app keeps (server.db.sqlite_connections_kept)."""
    import aiosqlite
    import asyncpg

    from server.db import sqlite_connections_kept
    from server.staff.auth import device_user
    from sync import push as push_service
    from sync.ops import parse_envelope
    from sync.shapes import read_envelope

    auth = await device_user(token)
    spent: dict[str, list[float]] = {}
    # Every statement, through Piccolo or raw: one hop to aiosqlite's thread, or one asyncpg call.
    saved = _timed_calls(aiosqlite.Connection, ("_execute",), spent, aiosqlite_hop=True) + _timed_calls(
        asyncpg.connection.Connection, ("fetch", "fetchrow", "fetchval", "execute", "executemany",
                                        "copy_records_to_table"), spent)
    try:
        async with sqlite_connections_kept():
            started = time.perf_counter()
            for start in range(0, len(ops), batch):
                body = json.dumps({"device_id": device_id, "device_time": datetime.now(timezone.utc).isoformat(),
                                   "ops": ops[start:start + batch]}).encode()
                envelope = read_envelope(body) or parse_envelope(body)  # as the endpoint reads it
                check_applied((await push_service.push(auth, envelope))["results"])
            return time.perf_counter() - started, spent
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


SYNC_OP_COLUMNS = ("op_id", "staff", "device_id", "type", "data", "at", "device_time", "received_at",
                   "corrected_at", "skew_seconds", "status", "code", "reason", "state")


def raw_rows(ops: list[dict[str, Any]], staff_id: str) -> list[tuple[Any, ...]]:
    """sync_op rows as the push stores them, under fresh op ids."""
    moment = datetime.now(timezone.utc)
    return [(uuid.uuid4(), uuid.UUID(staff_id), "bench", op["type"], json.dumps(op["data"]), moment, moment,
             moment, moment, 0.0, "applied", "", "", "") for op in ops]


def raw_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> float:
    text_rows = [tuple(str(v) if isinstance(v, (uuid.UUID, datetime)) else v for v in row) for row in rows]
    sql = f"INSERT INTO sync_op ({', '.join(SYNC_OP_COLUMNS)}) VALUES ({', '.join('?' * len(SYNC_OP_COLUMNS))})"
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, text_rows)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


async def raw_postgres(url: str, rows: list[tuple[Any, ...]]) -> float:
    import asyncpg

    marks = ", ".join(f"${n + 1}" for n in range(len(SYNC_OP_COLUMNS)))
    sql = f"INSERT INTO sync_op ({', '.join(SYNC_OP_COLUMNS)}) VALUES ({marks})"
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(sql, rows)
        return time.perf_counter() - started
    finally:
        await conn.close()


def measure(db: Database, count: int, batch: int, raw_repeat: int) -> list[Figure]:
    from bench_fleet import seed

    fleet = asyncio.run(seed(1, supervisors=0))
    guard = fleet.workers[0]
    setup = db.label
    with ServerProcess(db, "apply", XUNJIAN_SCHEDULER_SECONDS="0") as server:
        log(f"{setup}: pushing {count} ops over HTTP in batches of {batch}")
        http_s = push_over_http(server, guard.token, guard.device_id, patrol_ops(fleet, count), batch)
    log(f"{setup}: the same through the push service in this process")
    inproc_s, spent = asyncio.run(push_in_process(guard.token, guard.device_id, patrol_ops(fleet, count), batch))
    background = spent.pop("checkpoints", [0, 0.0])
    queries = int(sum(calls for calls, _ in spent.values()))
    database_s = sum(seconds for _, seconds in spent.values())
    raw_samples = []
    for _ in range(raw_repeat):
        rows = raw_rows(patrol_ops(fleet, count), guard.staff_id)
        if db.url:
            raw_samples.append(asyncio.run(raw_postgres(db.url, rows)))
        else:
            raw_samples.append(raw_sqlite(db.data_dir / "xunjian.sqlite3", rows))
    raw_s = median(raw_samples)
    ratio = http_s / raw_s
    raw = {"ops": count, "batch": batch, "http_s": http_s, "inproc_s": inproc_s, "raw_s": raw_s, "ratio": ratio,
           "queries": queries, "database_s": {kind: seconds for kind, (_, seconds) in spent.items()}}
    split = ", ".join(f"{kind} {spent[kind][1]:.2f} s" for kind in ("writes", "commits", "reads", "other") if kind in spent)
    if background[0]:
        split += f"; besides, {background[0]} WAL checkpoints in the background, {background[1]:.2f} s"
    return [
        Figure("sync apply", setup, f"{count:,} ops over HTTP, batches of {batch}",
               f"{http_s:.2f} s ({count / http_s:,.0f} ops/s, {http_s / count * 1000:.2f} ms/op)", raw=raw),
        Figure("sync apply", setup, "same ops, push service in-process (no HTTP)",
               f"{inproc_s:.2f} s ({count / inproc_s:,.0f} ops/s); {queries / count:.2f} database round trips/op",
               raw=raw),
        Figure("sync apply", setup, "of which waiting on the database (the rest is Python)",
               f"{database_s:.2f} s ({split}); Python {inproc_s - database_s:.2f} s", raw=raw),
        Figure("sync apply", setup, f"raw executemany of {count:,} sync_op rows, one transaction",
               f"{raw_s * 1000:.0f} ms ({count / raw_s:,.0f} rows/s)", raw=raw),
        Figure("sync apply", setup, "ratio HTTP / raw executemany", f"{ratio:.0f}x",
               goal=f"<= {GOAL_RATIO:g}x", met=ratio <= GOAL_RATIO, raw=raw),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--raw-repeat", type=int, default=3, help="raw executemany runs (the median is kept)")
    parser.add_argument("--pg", default="", help="a PostgreSQL server URL to create the database on (else SQLite)")
    parser.add_argument("--json", action="store_true", help="result lines for scripts/bench.py")
    args = parser.parse_args()
    db = database_from_args(args.pg)
    try:
        emit(measure(db, args.ops, args.batch, args.raw_repeat), args.json)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
