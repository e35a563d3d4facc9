"""Xunjian's benchmark: every figure of issue 8 in one run, printed as one table.

    uv run python scripts/bench.py [--quick] [--only sync,load,photos,app] [--pg URL | --no-pg]

Parts (each also runs alone, printing its own table; see its --help):

  sync    scripts/bench_apply.py   10,000 ops over HTTP in batches of 500 vs a raw
                                   executemany of as many rows, SQLite and PostgreSQL
  load    scripts/bench_load.py    200 phones each syncing a day at once: one server
                                   process on SQLite, one and two on PostgreSQL
  photos  scripts/bench_photos.py  ingest of 1600 px and 12 MP JPEGs vs Pillow's bare decode
  app     scripts/bench_app.py     field app first-load bytes; time to a usable home
                                   screen with the CPU slowed 4x, online and offline

The variants of a part run back to back in this one process's lifetime so a
busy machine weighs on all of them alike; the ratios are the figures to trust
on a noisy machine. PostgreSQL: `--pg URL` (or XUNJIAN_BENCH_PG, or DATABASE_URL)
names a server on which the bench creates and drops its own databases; without
one it starts a throwaway cluster from /usr/lib/postgresql as scripts/test.sh
does (fsync left on). `--quick` runs every part small (a few minutes); nothing
here is part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import Figure, PgCluster, log, parse_results, pg_server_url, table  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent
PARTS = ("sync", "load", "photos", "app")


def run_part(script: str, *args: str) -> list[Figure]:
    """Run one part in its own process; its progress goes to our stderr, its figures come back."""
    command = [sys.executable, str(SCRIPTS / script), "--json", *args]
    log("running " + " ".join(command[1:]))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=SCRIPTS.parent, stdout=subprocess.PIPE, text=True)
    figures = parse_results(result.stdout)
    if result.returncode != 0 or not figures:
        log(f"{script} failed (exit {result.returncode}); its output:\n{result.stdout[-3000:]}")
        return [Figure(script.removeprefix("bench_").removesuffix(".py"), " ".join(args) or "-", "run failed",
                       f"exit {result.returncode}", goal="runs", met=False)]
    log(f"{script} done in {time.perf_counter() - started:.0f} s")
    return figures


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.node()}: {os.cpu_count()} CPUs, load {load[0]:.1f}, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d %H:%M')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every part small: a smoke run of the tooling")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--pg", default="", help="PostgreSQL server URL to create databases on")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--phones", type=int, default=0, help="phones in the load part (default 200, quick 40)")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    quick = args.quick
    ops = "2000" if quick else "10000"
    phones = str(args.phones or (40 if quick else 200))

    started = time.perf_counter()
    before = machine()
    cluster = None
    pg = "" if args.no_pg else (args.pg or pg_server_url())
    notes = []
    if not args.no_pg and not pg and ({"sync", "load"} & set(parts)):
        try:
            cluster = PgCluster().start()
            pg = cluster.url
            log(f"started a throwaway PostgreSQL ({cluster.bin}) on port {cluster.port}")
        except Exception as exc:  # noqa: BLE001 - SQLite figures are still worth printing
            notes.append(f"PostgreSQL parts skipped: {exc}")
    figures: list[Figure] = []
    try:
        if "sync" in parts:
            figures += run_part("bench_apply.py", "--ops", ops)
            if pg:
                figures += run_part("bench_apply.py", "--ops", ops, "--pg", pg)
        if "load" in parts:
            figures += run_part("bench_load.py", "--phones", phones)
            if pg:
                figures += run_part("bench_load.py", "--phones", phones, "--pg", pg)
                figures += run_part("bench_load.py", "--phones", phones, "--servers", "2", "--pg", pg)
        if "photos" in parts:
            figures += run_part("bench_photos.py", "--rounds", "2" if quick else "5")
        if "app" in parts:
            figures += run_part("bench_app.py", "--repeat", "1" if quick else "3")
    finally:
        if cluster:
            cluster.stop()
    print(f"\nXunjian benchmark{' (quick)' if quick else ''}, {time.perf_counter() - started:.0f} s")
    print(f"machine at start: {before}")
    print(f"machine at end:   {machine()}")
    for note in notes:
        print(f"note: {note}")
    print()
    print(table(figures))


if __name__ == "__main__":
    main()
