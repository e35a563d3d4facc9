"""The database engine (SQLite by default, PostgreSQL through DATABASE_URL) and write transactions."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from typing import AsyncIterator
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


def engine() -> Engine:
    from server.tables import Site

    return Site._meta.db


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


@asynccontextmanager
async def write_transaction() -> AsyncIterator[object]:
    """A write transaction; on SQLite it takes the write lock up front (IMMEDIATE).

    A deferred SQLite transaction that later upgrades to a write fails at once
    with "database is locked" under concurrency, whatever the busy timeout.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        async with db.transaction(transaction_type=TransactionType.immediate) as tx:
            yield tx
    else:
        async with db.transaction() as tx:
            yield tx
