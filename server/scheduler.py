"""The in-process scheduler: periodic jobs in exactly one process, senders woken at once in any.

Every `scheduler_seconds` the leader runs the jobs below in order. Leadership
is a lock held for as long as the process lives: on PostgreSQL a session
advisory lock on a dedicated connection (it vanishes with the connection, so a
dead leader is replaced at the next period); on SQLite a file lock in the data
directory (several workers on one machine). Every job is idempotent and keeps
its state in the database, so a restart, or two runs of the same period, do
nothing twice.

Any process also runs the two senders as soon as a hook stores something
(`server.notify.dispatch.wake`): an emergency goes out within a second, not at
the next period. Senders claim rows, so this is safe in every process at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable

from piccolo.engine.postgres import PostgresEngine

from server.db import engine
from server.notify import dispatch, push, rules, wecom
from server.settings import get_settings

log = logging.getLogger("xunjian.scheduler")

ADVISORY_KEY = 727101  # 727100 is the migration lock (server/migrate.py)


def now() -> datetime:
    return datetime.now(timezone.utc)


async def settle_missed_slots(at: datetime) -> int:
    """Patrol windows that passed with no round become missed (the hook tells supervisors)."""
    from server.rounds.services import settle_missed_slots as settle

    return len(await settle(at))


async def send_pushes(at: datetime) -> dict[str, int]:
    return await push.send_pending(at)


async def send_wecom(at: datetime) -> dict[str, int]:
    return await wecom.send_pending(at)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[datetime], Awaitable[Any]]


# Order matters within one period: settle and check first, so what they store goes out in the same period.
JOBS = (
    Job("settle_missed_slots", settle_missed_slots),
    Job("check_deadlines", rules.check_deadlines),
    Job("release_digests", rules.release_digests),
    Job("send_pushes", send_pushes),
    Job("send_wecom", send_wecom),
)
SENDERS = tuple(j for j in JOBS if j.name in ("send_pushes", "send_wecom"))


async def run_jobs(jobs: tuple[Job, ...] = JOBS, at: datetime | None = None) -> dict[str, Any]:
    """Run jobs once; a failing job is logged and the others still run."""
    at = at or now()
    results: dict[str, Any] = {}
    for job in jobs:
        try:
            results[job.name] = await job.run(at)
        except Exception as exc:  # noqa: BLE001 - one broken job must not stop deadlines or pushes
            log.exception("scheduler job %s failed", job.name)
            results[job.name] = exc
    return results


async def run_once(at: datetime | None = None) -> dict[str, Any]:
    """One period of every job, as the leader runs it (tests and `xunjian` commands call this)."""
    return await run_jobs(JOBS, at)


class Leadership:
    """The right to run the periodic jobs, held by one process at a time."""

    def __init__(self) -> None:
        self._conn: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        if self._conn is not None:
            return not self._conn.is_closed()
        return self._fd is not None

    async def acquire(self) -> bool:
        """Try to become (or stay) the leader; never waits for the lock."""
        if self.held and await self._still_connected():
            return True
        await self.release()
        db = engine()
        if isinstance(db, PostgresEngine):
            return await self._acquire_postgres(db)
        return self._acquire_file()

    async def _still_connected(self) -> bool:
        """A leader whose database connection died has lost its lock (another process may hold it now)."""
        if self._conn is None:
            return True
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), timeout=10)
            return True
        except Exception:  # noqa: BLE001 - any failure means the session, and so the lock, is gone
            log.warning("scheduler lost its database connection; leadership is open again")
            return False

    async def _acquire_postgres(self, db: PostgresEngine) -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(**db.config)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("scheduler cannot reach PostgreSQL: %s", exc)
            return False
        try:
            locked = await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_KEY)
        except Exception:
            conn.terminate()
            raise
        if locked:
            self._conn = conn  # the lock lives as long as this connection
            return True
        await conn.close()
        return False

    def _acquire_file(self) -> bool:
        path = get_settings().data_path / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_KEY), timeout=5)
                await conn.close(timeout=5)
            except Exception:  # noqa: BLE001 - a dead session holds no lock; ending it is all that is left
                conn.terminate()
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Scheduler:
    """The loop: once a period try to lead and run the jobs; when woken in between, run the senders."""

    def __init__(self, period_seconds: float) -> None:
        self.period = period_seconds
        self.leadership = Leadership()

    async def period_tick(self) -> None:
        try:
            leader = await self.leadership.acquire()
        except Exception:  # noqa: BLE001 - the lock's database may be briefly away; try next period
            log.exception("scheduler could not take the leader lock")
            leader = False
        if leader:
            await run_jobs(JOBS)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = dispatch.attach()
        last_period = loop.time() - self.period
        try:
            while True:
                if loop.time() - last_period >= self.period:
                    last_period = loop.time()
                    await self.period_tick()
                elif wake.is_set():
                    wake.clear()
                    await run_jobs(SENDERS)
                remaining = self.period - (loop.time() - last_period)
                if remaining > 0 and not wake.is_set():
                    try:
                        await asyncio.wait_for(wake.wait(), timeout=remaining)
                    except asyncio.TimeoutError:
                        pass
        finally:
            dispatch.detach()
            await self.leadership.release()


@asynccontextmanager
async def scheduler_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the scheduler with the application (settings.scheduler_seconds; 0 disables it)."""
    seconds = get_settings().scheduler_seconds
    if seconds <= 0:
        yield
        return
    task = asyncio.create_task(Scheduler(seconds).run(), name="xunjian-scheduler")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
