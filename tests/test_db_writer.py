"""SQLite's kept writer connection (server/db.py): the app's write transactions take turns on one connection.

What a user would notice if it went wrong: after one failed or abandoned request
every later save fails ("cannot start a transaction within a transaction"), or a
half-done write shows up, or the server does not stop. Each test runs the
writers inside `sqlite_writer_kept`, as the app's lifespan does.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import ON_POSTGRES, run
from server.changes import committed_position, next_position
from server.db import _writer, sqlite_writer_kept, write_transaction

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the kept writer connection is SQLite's")


def worker_threads() -> int:
    return sum(1 for t in threading.enumerate() if "_connection_worker_thread" in t.name)


async def committed_by_another_connection() -> int:
    return await committed_position()  # outside a transaction: a connection of its own


def test_a_failed_and_an_abandoned_write_leave_the_next_one_working() -> None:
    async def go() -> dict[str, object]:
        async with sqlite_writer_kept():
            kept = _writer().connection
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
                    "last": await committed_by_another_connection(), "same": _writer().connection is kept}

    seen = run(go())
    assert seen["first"] == seen["start"] + 1
    assert seen["failed"] == seen["first"], "the failed save was rolled back"
    assert seen["cancelled"] == seen["first"], "the abandoned save was rolled back"
    assert seen["last"] == seen["first"] + 1, "the next save went through, and is visible to others"
    assert seen["same"], "all of them on the one kept connection"


def test_a_connection_left_inside_a_transaction_is_replaced() -> None:
    async def go() -> tuple[bool, bool, int, int]:
        async with sqlite_writer_kept():
            stuck = _writer().connection
            assert stuck is not None
            await stuck.execute("BEGIN")  # as a BEGIN queued by a cancelled task would leave it
            before = await committed_by_another_connection()
            async with write_transaction():
                await next_position()
            return (_writer().connection is not stuck, stuck.in_transaction if stuck._connection else False,
                    before, await committed_by_another_connection())

    replaced, still_open, before, after = run(go())
    assert replaced and not still_open
    assert after == before + 1


def test_the_kept_connection_and_its_thread_end_with_the_app() -> None:
    before = worker_threads()

    async def go() -> int:
        async with sqlite_writer_kept():
            async with write_transaction():
                await next_position()
            return worker_threads()

    during = run(go())
    assert during == before + 1
    assert worker_threads() == before, "a worker thread left running keeps the process from exiting"
