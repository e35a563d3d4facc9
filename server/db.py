"""The database engine (SQLite by default, PostgreSQL through DATABASE_URL) and write transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

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


def engine() -> Engine:
    from server.tables import Site

    return Site._meta.db


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


class _Writer:
    """This event loop's SQLite writers: their queue, and (inside `sqlite_writer_kept`) one kept connection."""

    def __init__(self) -> None:
        self.queue = asyncio.Lock()
        self.connection: aiosqlite.Connection | None = None
        self.keep = False


# One per event loop (tests run several loops; a lock and a connection's thread belong to one).
_sqlite_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer] = weakref.WeakKeyDictionary()


def _writer() -> _Writer:
    loop = asyncio.get_running_loop()
    writer = _sqlite_writers.get(loop)
    if writer is None:
        writer = _sqlite_writers[loop] = _Writer()
    return writer


class _KeptTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on the loop's kept writer connection, which it leaves open.

    A connection of its own per transaction costs a connect, a thread and a cold page
    cache each time (about a fifth of a 500-op sync push). A connection that may be
    in an unknown state (its commit or rollback failed, or it is somehow still in a
    transaction) is closed and the next transaction opens a fresh one.
    """

    __slots__ = ("writer",)

    def __init__(self, engine: SQLiteEngine, writer: _Writer) -> None:
        super().__init__(engine, transaction_type=TransactionType.immediate)
        self.writer = writer

    async def get_connection(self) -> aiosqlite.Connection:
        connection = self.writer.connection
        if connection is not None and connection.in_transaction:
            await self._discard()
            connection = None
        if connection is None:
            connection = self.writer.connection = await self.engine.get_connection()
        return connection

    async def begin(self) -> None:
        try:
            await super().begin()
        except sqlite3.OperationalError as exc:
            # A task cancelled after its BEGIN was queued can leave the connection in a transaction
            # that get_connection could not see yet: start over on a fresh connection.
            if "within a transaction" not in str(exc):
                raise
            await self._discard()
            self.connection = await self.get_connection()
            await super().begin()

    async def _discard(self) -> None:
        connection, self.writer.connection = self.writer.connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        try:
            if exception is not None:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException:
            await self._discard()
            raise
        finally:
            self.engine.current_transaction.reset(self.context)
        if not self.writer.keep:  # the kept connection's owner has gone
            await self._discard()
        return exception is None


@asynccontextmanager
async def sqlite_writer_kept() -> AsyncIterator[None]:
    """On SQLite, this loop's write transactions share one connection until the block ends.

    Held for the server's life (the app's lifespan). It also keeps the WAL from
    being checkpointed after every write: when the last connection to a WAL
    database closes, SQLite checkpoints the whole log into the database file
    (and fsyncs it), so with a connection per transaction every push paid for a
    checkpoint on top of its commit. With one always open, the log is
    checkpointed as SQLite means it to be, once it reaches 1000 pages.
    Without this block (tests that call services directly, the command line),
    each write transaction opens and closes a connection of its own.
    """
    db = engine()
    if not isinstance(db, SQLiteEngine):
        yield
        return
    writer = _writer()
    writer.keep = True
    try:
        async with writer.queue:  # the first connection opened now, before any request
            transaction = _KeptTransaction(db, writer)
            await transaction.get_connection()
        yield
    finally:
        writer.keep = False
        async with writer.queue:
            connection, writer.connection = writer.connection, None
            if connection is not None:
                await connection.close()  # the last one out checkpoints


@asynccontextmanager
async def write_transaction() -> AsyncIterator[object]:
    """A write transaction; on SQLite it takes the write lock up front (IMMEDIATE).

    A deferred SQLite transaction that later upgrades to a write fails at once
    with "database is locked" under concurrency, whatever the busy timeout.
    Within a process, SQLite writers also queue on an asyncio lock first: SQLite's
    busy handler is not a queue but retries with sleeps, so under a burst (200
    phones syncing at once) an unlucky writer kept losing the race until its busy
    timeout ran out and its request failed; the lock serves them in arrival order.
    Inside `sqlite_writer_kept` the writers of the loop share one kept connection.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        if db.transaction_exists():  # nested: Piccolo reuses the outer transaction, which holds the queue
            async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                yield tx
            return
        writer = _writer()
        async with writer.queue:
            if writer.keep:
                async with _KeptTransaction(db, writer) as tx:
                    yield tx
            else:
                async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                    yield tx
    else:
        async with db.transaction() as tx:
            yield tx
