"""SQLite's kept connections (server/db.py): write transactions take turns on one kept connection,
queries outside a transaction borrow one of a few kept readers.

What a user would notice if it went wrong: after one failed or abandoned request
every later save or page fails ("cannot start a transaction within a
transaction"), a half-done write shows up, a busy moment opens a connection per
query again, or the server does not stop. Each test runs inside
`sqlite_connections_kept`, as the app's lifespan does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from contextlib import closing

import pytest

from conftest import ON_POSTGRES, run
from server.changes import committed_position, next_position
from server.db import READERS, _loop_connections, sqlite_connections_kept, write_transaction
from server.settings import get_settings
from server.sites.tables import ChangeCounter, Site

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the kept connections are SQLite's")


def workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


def still_running(started: set[threading.Thread]) -> set[threading.Thread]:
    """Of these worker threads, those still running after up to 5 s (aiosqlite answers `close()`
    from the thread just before the thread returns)."""
    deadline = time.monotonic() + 5
    for thread in started:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return {t for t in started if t.is_alive()}


async def committed_by_another_connection() -> int:
    return await committed_position()  # outside a transaction: on a kept reader, not the writer


def test_a_failed_and_an_abandoned_write_leave_the_next_one_working() -> None:
    async def go() -> dict[str, object]:
        async with sqlite_connections_kept():
            kept = _loop_connections().writer
            start = await committed_by_another_connection()
            async with write_transaction():
                await next_position()
            after_first = await committed_by_another_connection()

            with pytest.raises(RuntimeError):
                async with write_transaction():
                    await next_position()
                    raise RuntimeError("a bug in the middle of a save")
            after_failed = await committed_by_another_connection()

            entered = asyncio.Event()

            async def abandoned() -> None:  # a request whose client went away mid-save
                async with write_transaction():
                    await next_position()
                    entered.set()
                    await asyncio.sleep(30)

            task = asyncio.create_task(abandoned())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after_cancelled = await committed_by_another_connection()

            async with write_transaction():
                await next_position()
            return {"start": start, "first": after_first, "failed": after_failed, "cancelled": after_cancelled,
                    "last": await committed_by_another_connection(), "same": _loop_connections().writer is kept}

    seen = run(go())
    assert seen["first"] == seen["start"] + 1
    assert seen["failed"] == seen["first"], "the failed save was rolled back"
    assert seen["cancelled"] == seen["first"], "the abandoned save was rolled back"
    assert seen["last"] == seen["first"] + 1, "the next save went through, and is visible to others"
    assert seen["same"], "all of them on the one kept connection"


def test_a_connection_left_inside_a_transaction_is_replaced() -> None:
    async def go() -> tuple[bool, bool, int, int]:
        async with sqlite_connections_kept():
            stuck = _loop_connections().writer
            assert stuck is not None
            await stuck.execute("BEGIN")  # as a BEGIN queued by a cancelled task would leave it
            before = await committed_by_another_connection()
            async with write_transaction():
                await next_position()
            return (_loop_connections().writer is not stuck, stuck.in_transaction if stuck._connection else False,
                    before, await committed_by_another_connection())

    replaced, still_open, before, after = run(go())
    assert replaced and not still_open
    assert after == before + 1


def test_the_kept_connection_and_its_thread_end_with_the_app() -> None:
    before = workers()

    async def go() -> set[threading.Thread]:
        async with sqlite_connections_kept():
            async with write_transaction():
                await next_position()
            return workers() - before

    started = run(go())
    assert len(started) == 1, "one kept writer connection"
    assert not still_running(started), "a worker thread left running keeps the process from exiting"


def test_queries_outside_a_transaction_share_a_few_kept_readers() -> None:
    before = workers()

    async def go() -> dict[str, object]:
        async with sqlite_connections_kept():
            one_after_another = [await Site.count() for _ in range(20)]  # a page's queries
            sequential = workers() - before
            kept_after_sequence = _loop_connections().readers
            at_once = await asyncio.gather(*[Site.count() for _ in range(30)])  # thirty page loads at once
            with pytest.raises(Exception, match="no such column"):
                await Site.raw("SELECT nonsense FROM site")
            after_error = await Site.count()
            name = f"renamed-{uuid.uuid4().hex[:8]}"
            site = await Site.objects().first()
            await Site.update({Site.name: name}).where(Site.id == site.id)  # a write outside a transaction
            kept = _loop_connections()
            return {"counts": {*one_after_another, *at_once, after_error}, "sequential": sequential,
                    "kept_after_sequence": kept_after_sequence, "name": name, "site": site, "readers": kept.readers, "idle": len(kept.idle_readers),
                    "started": workers() - before}

    seen = run(go())
    assert len(seen["counts"]) == 1, "every query answered, the same"
    assert seen["kept_after_sequence"] == 1 and len(seen["sequential"]) == 2, \
        "twenty queries in a row: the writer and one kept reader, not twenty connections"
    assert seen["readers"] == seen["idle"] <= READERS, "every kept reader was given back"
    saved = run(Site.select(Site.name).where(Site.id == seen["site"].id).first())  # another connection
    assert saved["name"] == seen["name"]
    run(Site.update({Site.name: seen["site"].name}).where(Site.id == seen["site"].id))
    assert not still_running(seen["started"] | seen["sequential"])


SLOW_REPORT = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) "
               "SELECT count(*) AS rows FROM n")


def test_long_reports_on_every_kept_reader_do_not_hold_up_a_page() -> None:
    async def go() -> list[str]:
        finished: list[str] = []

        async def report(number: int) -> None:
            await Site.raw(SLOW_REPORT)
            finished.append(f"report {number}")

        async def page() -> None:
            await Site.count()
            finished.append("page")

        async with sqlite_connections_kept():
            reports = [asyncio.create_task(report(n)) for n in range(READERS)]
            await asyncio.sleep(0.05)  # every kept reader is now busy with a report
            await asyncio.gather(page(), *reports)
        return finished

    assert run(go())[0] == "page"


def test_saves_reach_the_database_file_in_the_background() -> None:
    """A save commits to the WAL, and the background checkpointer copies it into the database file
    soon after; the save itself never waits for that (its connection does not checkpoint)."""
    path = get_settings().sqlite_path

    def in_the_file() -> int:  # the database file alone (immutable: SQLite ignores the WAL)
        with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
            return conn.execute(f'SELECT "value" FROM "{ChangeCounter._meta.tablename}" WHERE "id" = 1').fetchone()[0]

    async def go() -> dict[str, object]:
        async with sqlite_connections_kept():
            writer = _loop_connections().writer
            async with write_transaction():
                await next_position()
            saved = await committed_by_another_connection()
            deadline = time.monotonic() + 10
            while in_the_file() != saved and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return {"saved": saved, "file": in_the_file(),
                    "writer_checkpoints": (await writer.execute_fetchall("PRAGMA wal_autocheckpoint"))[0]}

    seen = run(go())
    assert seen["file"] == seen["saved"]
    assert list(seen["writer_checkpoints"].values()) == [0]
