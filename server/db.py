"""The database engine (SQLite by default, PostgreSQL through DATABASE_URL) and write transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator
from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from server.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(settings: Settings | None = None) -> Engine:
    """Build the engine named by the settings; SQLite is put in WAL mode once (it persists)."""
    settings = settings or get_settings()
    if settings.is_postgres:
        url = urlparse(settings.database_url)
        config = {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 5432,
            "user": unquote(url.username or ""),
            "password": unquote(url.password or "") or None,
            "database": url.path.lstrip("/"),
        }
        return PostgresEngine(config={k: v for k, v in config.items() if v is not None})
    settings.data_path.mkdir(parents=True, exist_ok=True)
    path = str(settings.sqlite_path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return SQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT_S)


@contextmanager
def sqlite_kept_open(settings: Settings | None = None) -> Iterator[None]:
    """On SQLite, one idle connection held for the server's life, so a write is not followed by a checkpoint.

    Piccolo opens a connection per transaction and closes it after. When the last
    connection to a WAL database closes, SQLite checkpoints the whole log into the
    database file and deletes it: with no other connection open, every push paid
    for a checkpoint (and its fsync) on top of its commit. With this one open, the
    log is checkpointed as SQLite means it to be, once it reaches 1000 pages.
    """
    settings = settings or get_settings()
    if settings.is_postgres:
        yield
        return
    conn = sqlite3.connect(str(settings.sqlite_path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchall()  # attaches to the log without holding a transaction
        yield
    finally:
        conn.close()  # the last one out checkpoints


def engine() -> Engine:
    from server.tables import Site

    return Site._meta.db


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


# One queue of SQLite writers per event loop (tests run several loops; a lock belongs to one).
_sqlite_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _writer_queue() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _sqlite_writers.get(loop)
    if lock is None:
        lock = _sqlite_writers[loop] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_transaction() -> AsyncIterator[object]:
    """A write transaction; on SQLite it takes the write lock up front (IMMEDIATE).

    A deferred SQLite transaction that later upgrades to a write fails at once
    with "database is locked" under concurrency, whatever the busy timeout.
    Within a process, SQLite writers also queue on an asyncio lock first: SQLite's
    busy handler is not a queue but retries with sleeps, so under a burst (200
    phones syncing at once) an unlucky writer kept losing the race until its busy
    timeout ran out and its request failed; the lock serves them in arrival order.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        if db.transaction_exists():  # nested: Piccolo reuses the outer transaction, which holds the queue
            async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                yield tx
            return
        async with _writer_queue():
            async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                yield tx
    else:
        async with db.transaction() as tx:
            yield tx
