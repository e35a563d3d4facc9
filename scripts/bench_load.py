"""Load benchmark (not part of the test run): prints figures, asserts nothing it measures.

Simulated phones on one asyncio loop, each with its own user, device token and
HTTP connection (httpx.AsyncClient over loopback), each syncing a guard's or a
cleaner's day at the same moment: 12 rounds (start, ten QR visits, finish),
five findings each with a ~300 KB 1600 px JPEG, about 150 ops. A phone does
what the field app does when the network comes back: HEAD then PUT each photo,
then push the outbox (one request; at most 500 ops a push). Failed requests
(transport errors, 5xx) are counted as errors and retried, so every record
still arrives; at the end the server's database is checked for every op and
every photo exactly once.

With several servers (`--servers 2`, PostgreSQL only) the processes share the
database and the photo directory; phone i talks to server i mod N, as behind a
proxy with keep-alive connections.

    uv run python scripts/bench_load.py [--phones 200] [--servers 1] [--spread 0] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402
    Database, Figure, ServerProcess, database_from_args, emit, log, percentile,
)

GOAL_P95_S = 1.0
RETRIES = 5


@dataclass
class Recorder:
    """Every request's latency by kind, and the failures."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    ready: int = 0
    ops_sent: int = 0
    ops_applied: int = 0
    photos_stored: int = 0
    first: float = 0.0
    last: float = 0.0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


async def request(client: Any, rec: Recorder, kind: str, method: str, url: str, **kwargs: Any) -> Any:
    """One request as a phone makes it: retried with back-off on transport errors and 5xx."""
    delay = 0.5
    for attempt in range(RETRIES + 1):
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a transport failure is an error, then a retry
            rec.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        else:
            rec.add(kind, time.perf_counter() - started)
            if response.status_code < 500:
                return response
            rec.errors.append(f"{kind}: HTTP {response.status_code} {response.text[:200]}")
        if attempt == RETRIES:
            raise RuntimeError(f"{kind} failed {RETRIES + 1} times")
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


async def phone_day(url: str, worker: Any, rounds: list[list[dict[str, Any]]], photos: list[bytes],
                    start: asyncio.Event, delay: float, rec: Recorder) -> None:
    import httpx

    from bench_fleet import sha256_of

    headers = {"Authorization": f"Bearer {worker.token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=900) as client:
        await client.get("/healthz")  # the connection is open before the clock starts
        rec.ready += 1
        await start.wait()
        if delay:
            await asyncio.sleep(delay)
        rec.first = rec.first or time.perf_counter()
        for data in photos:
            sha = sha256_of(data)
            head = await request(client, rec, "photo HEAD", "HEAD", f"/sync/photos/{sha}")
            if head.status_code == 200:
                continue
            put = await request(client, rec, "photo PUT", "PUT", f"/sync/photos/{sha}", content=data,
                                headers={"Content-Type": "image/jpeg"})
            if put.status_code in (200, 201):
                rec.photos_stored += 1
            else:
                rec.errors.append(f"photo PUT: HTTP {put.status_code} {put.text[:200]}")
        ops = [op for r in rounds for op in r]
        for begin in range(0, len(ops), 500):
            batch = ops[begin:begin + 500]
            rec.ops_sent += len(batch)
            response = await request(client, rec, "push", "POST", "/sync/push", json={
                "device_id": worker.device_id, "device_time": datetime.now(timezone.utc).isoformat(),
                "ops": batch})
            if response.status_code != 200:
                rec.errors.append(f"push: HTTP {response.status_code} {response.text[:200]}")
                continue
            for result in response.json()["results"]:
                if result["status"] == "applied" or result.get("original_status") == "applied":
                    rec.ops_applied += 1
                else:
                    rec.errors.append(f"op {result['status']}: {result.get('code')} {result.get('reason')}")
        rec.last = max(rec.last, time.perf_counter())


async def run_phones(urls: list[str], fleet: Any, photo_paths: list[Path], per_phone: int,
                     spread: float) -> tuple[Recorder, float]:
    from bench_fleet import day_rounds, sha256_of

    rec = Recorder()
    start = asyncio.Event()
    tasks = []
    rng = random.Random(8)
    for n, worker in enumerate(fleet.workers):
        photos = [p.read_bytes() for p in photo_paths[n * per_phone:(n + 1) * per_phone]]
        rounds = day_rounds(fleet.routes[worker.role], [sha256_of(p) for p in photos], fleet.site_id)
        delay = rng.uniform(0, spread) if spread else 0.0
        tasks.append(asyncio.create_task(phone_day(urls[n % len(urls)], worker, rounds, photos, start, delay, rec)))
    # Every phone opens its connection first, so the clock starts with the pushes, not with 200 connects.
    while rec.ready < len(tasks) and not any(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    start.set()
    started = time.perf_counter()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - started
    for r in results:
        if isinstance(r, BaseException):
            rec.errors.append(f"phone gave up: {type(r).__name__}: {r}")
    return rec, wall


async def stored_counts(site_id: str) -> dict[str, int]:
    """What the server's database holds for the bench site (checks that nothing was lost or doubled)."""
    from server.photos.tables import Photo, PhotoRef
    from server.rounds.tables import Round, Visit
    from server.staff.tables import Staff
    from sync.tables import SyncOp

    staff = [r["id"] for r in await Staff.select(Staff.id).where(Staff.username.like("bench-%"))]
    refs = await PhotoRef.select(PhotoRef.sha256).where(PhotoRef.site == site_id)
    return {
        "ops": await SyncOp.count().where(SyncOp.staff.is_in(staff) & (SyncOp.status == "applied")),
        "rounds": await Round.count().where(Round.site == site_id),
        "visits": await Visit.count().where(Visit.site == site_id),
        "photos": await Photo.count().where(Photo.sha256.is_in([r["sha256"] for r in refs] or [""])),
    }


def measure(db: Database, phones: int, servers: int, spread: float, per_phone: int) -> list[Figure]:
    from bench_fleet import ROUNDS_PER_DAY, phone_photos, seed

    if servers > 1 and not db.url:
        raise SystemExit("several server processes need PostgreSQL (--pg)")
    photo_paths = phone_photos(phones * per_phone)
    fleet = asyncio.run(seed(phones))
    setup = db.label + (f" x{servers} processes" if servers > 1 else ", 1 process")
    processes = [ServerProcess(db, f"load{n}") for n in range(servers)]
    try:
        for p in processes:
            p.start()
        log(f"{setup}: {phones} phones sync a day each, {'at once' if not spread else f'over {spread:g} s'}")
        rec, wall = asyncio.run(run_phones([p.url for p in processes], fleet, photo_paths, per_phone, spread))
    finally:
        for p in processes:
            p.stop()
    for p in processes:
        if p.errors():
            log(f"server log of port {p.port} ends with:\n{p.errors()}")
    counts = asyncio.run(stored_counts(fleet.site_id))
    expected_photos = phones * per_phone
    if counts["ops"] != rec.ops_sent or counts["photos"] != expected_photos \
            or counts["rounds"] != phones * ROUNDS_PER_DAY:
        rec.errors.append(f"database holds {counts}, phones sent {rec.ops_sent} ops and {expected_photos} photos")
    push = rec.latencies.get("push", [])
    puts = rec.latencies.get("photo PUT", [])
    active = (rec.last - rec.first) or wall
    raw = {"phones": phones, "servers": servers, "spread": spread, "ops": rec.ops_sent, "wall_s": active,
           "ops_per_s": rec.ops_sent / active, "photos_per_s": expected_photos / active,
           "push_p50": percentile(push, 50), "push_p95": percentile(push, 95), "push_p99": percentile(push, 99),
           "put_p50": percentile(puts, 50), "put_p95": percentile(puts, 95), "errors": len(rec.errors),
           "counts": counts, "first_errors": rec.errors[:5]}
    for line in rec.errors[:5]:
        log(f"error: {line}")
    when = "at once" if not spread else f"starting over {spread:g} s"
    # One push of ~150 ops per phone: with every phone at once the last one waits for
    # all the others, so the time per day-sync is what says how many can sync together.
    per_sync = active / phones
    p95 = raw["push_p95"]
    return [
        Figure("load", setup, f"{phones} phones each sync a day {when} ({rec.ops_sent:,} ops, "
                              f"{expected_photos:,} photos)",
               f"{raw['ops_per_s']:,.0f} ops/s + {raw['photos_per_s']:.1f} photos/s; all done in {active:.1f} s "
               + (f"({per_sync * 1000:.0f} ms per phone's day)" if not spread
                  else f"(phones arriving at {phones / spread:.1f}/s)"), raw=raw),
        Figure("load", setup, "push latency p50 / p95 / p99; photo PUT p50 / p95",
               f"{raw['push_p50']:.2f} / {p95:.2f} / {raw['push_p99']:.2f} s; "
               f"{raw['put_p50']:.2f} / {raw['put_p95']:.2f} s; errors {len(rec.errors)}",
               goal=f"0 errors, p95 < {GOAL_P95_S:g} s", met=not rec.errors and p95 < GOAL_P95_S, raw=raw),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--servers", type=int, default=1, help="server processes on one PostgreSQL (needs --pg)")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="start the phones at random over this many seconds (0: all at once)")
    parser.add_argument("--photos", type=int, default=5,
                        help="photos (each with a finding) in a phone's day; 0 leaves only the rounds")
    parser.add_argument("--pg", default="", help="a PostgreSQL server URL to create the database on (else SQLite)")
    parser.add_argument("--json", action="store_true", help="result lines for scripts/bench.py")
    args = parser.parse_args()
    db = database_from_args(args.pg)
    try:
        emit(measure(db, args.phones, args.servers, args.spread, args.photos), args.json)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
