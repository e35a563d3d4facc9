"""The database engine (SQLite by default, PostgreSQL through DATABASE_URL) and write transactions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

from server.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_S = 30
READERS = 4  # kept SQLite reader connections per event loop (each has an aiosqlite thread)
CHECKPOINT_EVERY_S = 1.0  # at most one background WAL checkpoint per second, after commits

log = logging.getLogger("xunjian.db")


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
    return KeptSQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT_S)


def engine() -> Engine:
    from server.tables import Site

    return Site._meta.db


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


class _LoopConnections:
    """This event loop's SQLite connections: the writers' queue, and inside `sqlite_connections_kept` the kept
    writer connection and a few kept reader connections."""

    def __init__(self) -> None:
        self.queue = asyncio.Lock()
        self.writer: aiosqlite.Connection | None = None  # the kept writer connection
        self.active = False
        self.idle_readers: list[aiosqlite.Connection] = []
        self.readers = 0  # kept reader connections open, idle or lent
        self.committed = asyncio.Event()  # wakes the checkpointer

    async def open_writer(self, engine: SQLiteEngine) -> aiosqlite.Connection:
        """The kept writer connection, opened if need be. It never checkpoints the WAL itself
        (`wal_autocheckpoint = 0`): `_checkpoints` does, on a connection and a thread of its own."""
        if self.writer is None:
            connection = await engine.get_connection()
            await connection.execute("PRAGMA wal_autocheckpoint = 0")
            self.writer = connection
        return self.writer

    async def take_reader(self, engine: SQLiteEngine) -> aiosqlite.Connection | None:
        """An idle kept reader, a new one while fewer than READERS are open, else None: then the query
        opens a connection of its own, as Piccolo does (a few long reports never hold up the rest)."""
        if self.idle_readers:
            return self.idle_readers.pop()
        if self.readers >= READERS:
            return None
        self.readers += 1
        try:
            return await engine.get_connection()
        except BaseException:
            self.readers -= 1
            raise

    async def give_back(self, connection: aiosqlite.Connection) -> None:
        if self.active and not connection.in_transaction:
            self.idle_readers.append(connection)
        else:
            await self.drop_reader(connection)

    async def drop_reader(self, connection: aiosqlite.Connection) -> None:
        self.readers -= 1
        await _close_quietly(connection)


async def _close_quietly(connection: aiosqlite.Connection) -> None:
    """Close a connection that is being thrown away; an error closing it changes nothing."""
    try:
        await connection.close()
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass


# One per event loop (tests run several loops; a lock and a connection's thread belong to one).
_sqlite_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = weakref.WeakKeyDictionary()


def _loop_connections() -> _LoopConnections:
    loop = asyncio.get_running_loop()
    kept = _sqlite_connections.get(loop)
    if kept is None:
        kept = _sqlite_connections[loop] = _LoopConnections()
    return kept


class KeptSQLiteEngine(SQLiteEngine):
    """SQLiteEngine whose queries outside a transaction reuse the loop's kept reader connections.

    Piccolo opens a connection (and its thread) for every query outside a transaction and
    closes it after: 4-5 ms each here, so a page or a pull of a dozen queries spent most of
    its time connecting. Inside `sqlite_connections_kept` (the app's lifespan) such a query takes
    one of a few kept connections instead and runs exactly as Piccolo runs it (committed at
    once, rows as dicts); when all of them are busy it opens its own, as before. Elsewhere
    (tests calling services directly, the command line) nothing changes. A connection whose
    query failed is closed, not lent again.
    """

    async def _run_in_new_connection(self, query: str, args: list[Any] | None = None, query_type: str = "generic",
                                     table: Any = None) -> Any:
        kept = _sqlite_connections.get(asyncio.get_running_loop())
        if kept is None or not kept.active or (query_type == "insert" and self.get_version_sync() < 3.35):
            return await super()._run_in_new_connection(query, args, query_type, table)
        connection = await kept.take_reader(self)
        if connection is None:  # every kept reader is busy
            return await super()._run_in_new_connection(query, args, query_type, table)
        try:
            async with connection.execute(query, args or []) as cursor:
                await connection.commit()
                rows = await cursor.fetchall()
        except BaseException:
            await kept.drop_reader(connection)
            raise
        await kept.give_back(connection)
        return rows


class _KeptTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on the loop's kept writer connection, which it leaves open.

    A connection of its own per transaction costs a connect, a thread and a cold page
    cache each time (about a fifth of a 500-op sync push). A connection that may be
    in an unknown state (its commit or rollback failed, or it is still in a transaction
    when the next one begins) is closed and replaced by a fresh one.
    """

    __slots__ = ("kept",)

    def __init__(self, engine: SQLiteEngine, kept: _LoopConnections) -> None:
        super().__init__(engine, transaction_type=TransactionType.immediate)
        self.kept = kept

    async def get_connection(self) -> aiosqlite.Connection:
        return await self.kept.open_writer(self.engine)

    async def begin(self) -> None:
        try:
            await super().begin()
        except sqlite3.OperationalError as exc:
            # The connection is still in a transaction (say, a BEGIN queued by a task that was
            # cancelled before it ran): start over on a fresh connection.
            if "within a transaction" not in str(exc):
                raise
            await self._discard()
            self.connection = await self.get_connection()
            await super().begin()

    async def _discard(self) -> None:
        connection, self.kept.writer = self.kept.writer, None
        if connection is not None:
            await _close_quietly(connection)

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
        if self._committed:
            self.kept.committed.set()
        if not self.kept.active:  # the kept connection's owner has gone
            await self._discard()
        return exception is None


async def _checkpoints(db: SQLiteEngine, kept: _LoopConnections) -> None:
    """Checkpoint the WAL into the database file after commits, off the requests' path.

    SQLite's own automatic checkpoint runs inside the commit that fills the log past 1000
    pages: that request then waits while the log is copied into the database file and the
    file is fsynced. Here a connection of its own does it (PASSIVE: it never blocks a writer
    or a reader), at most once every CHECKPOINT_EVERY_S; SQLite runs it on that connection's
    thread without the GIL, so the requests go on meanwhile.
    """
    connection = None
    try:
        while True:
            await kept.committed.wait()
            kept.committed.clear()
            try:
                connection = connection or await db.get_connection()
                await connection.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # noqa: BLE001 - tried again after the next commit; a checkpoint is never urgent
                log.exception("checkpointing the SQLite WAL failed")
                if connection is not None:  # closed quietly: an error here must not end the task
                    await _close_quietly(connection)
                    connection = None
            await asyncio.sleep(CHECKPOINT_EVERY_S)
    finally:
        if connection is not None:
            await _close_quietly(connection)


@asynccontextmanager
async def sqlite_connections_kept() -> AsyncIterator[None]:
    """On SQLite, this loop's connections are kept open until the block ends: one for the writers, a few readers.

    Held for the server's life (the app's lifespan). Write transactions take turns
    on the kept writer connection (`_KeptTransaction`), queries outside a transaction
    borrow a kept reader (`KeptSQLiteEngine`), and a background task checkpoints the
    WAL after commits (`_checkpoints`). The open writer also keeps the WAL from being
    checkpointed after every write: when the last connection to a WAL database closes,
    SQLite checkpoints the whole log into the database file (and fsyncs it), so with a
    connection per transaction every push paid for a checkpoint on top of its commit.
    Without this block (tests that call services directly, the command line),
    each transaction and each query opens and closes a connection of its own, and
    SQLite checkpoints as usual.
    """
    db = engine()
    if not isinstance(db, SQLiteEngine):
        yield
        return
    kept = _loop_connections()
    kept.active = True
    checkpointer = None
    try:
        async with kept.queue:  # the writer connection opened now, before any request
            await kept.open_writer(db)
        checkpointer = asyncio.create_task(_checkpoints(db, kept), name="sqlite-checkpoints")
        yield
    finally:
        kept.active = False
        if checkpointer is not None:
            checkpointer.cancel()
            try:
                await checkpointer
            except asyncio.CancelledError:
                pass
        idle, kept.idle_readers = kept.idle_readers, []
        for reader in idle:  # a reader still lent is closed when it is given back
            await kept.drop_reader(reader)
        async with kept.queue:
            connection, kept.writer = kept.writer, None
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
    Inside `sqlite_connections_kept` the writers of the loop share one kept connection.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        if db.transaction_exists():  # nested: Piccolo reuses the outer transaction, which holds the queue
            async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                yield tx
            return
        kept = _loop_connections()
        async with kept.queue:
            if kept.active:
                async with _KeptTransaction(db, kept) as tx:
                    yield tx
            else:
                async with db.transaction(transaction_type=TransactionType.immediate) as tx:
                    yield tx
    else:
        async with db.transaction() as tx:
            yield tx
