"""Writers under a burst: many write transactions at once all get their turn.

The load benchmark (scripts/bench_load.py) found photo uploads answered 500
"database is locked" on SQLite when 40 phones synced at once: SQLite's busy
handler retries with sleeps instead of queueing, so a writer could lose the race
until its busy timeout ran out. Here the timeout is cut to one second and a
dozen writers each hold the write lock for a third of one: four seconds of work.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import ON_POSTGRES, run
from server.changes import committed_position, next_position
from server.db import engine, write_transaction

WRITERS = 12
HOLD_S = 0.3


async def slow_writer(positions: list[int]) -> None:
    async with write_transaction():
        positions.append(await next_position())
        await asyncio.sleep(HOLD_S)  # a long push: hundreds of ops in one transaction


def test_a_burst_of_slow_writers_all_commit_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    if not ON_POSTGRES:
        monkeypatch.setitem(engine().connection_kwargs, "timeout", 1.0)
    before = run(committed_position())
    positions: list[int] = []

    async def burst() -> list[BaseException | None]:
        return await asyncio.gather(*[slow_writer(positions) for _ in range(WRITERS)], return_exceptions=True)

    started = time.perf_counter()
    outcomes = run(burst())
    elapsed = time.perf_counter() - started
    assert [o for o in outcomes if o is not None] == []
    assert sorted(positions) == list(range(before + 1, before + WRITERS + 1))  # one after another, none lost
    assert run(committed_position()) == before + WRITERS
    assert elapsed >= WRITERS * HOLD_S * 0.9  # they really took turns
