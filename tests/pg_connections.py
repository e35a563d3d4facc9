"""PostgreSQL connections kept for reuse in the pytest process, as a server's pool keeps them.

The test process runs with XUNJIAN_DB_POOL_SIZE=0 because it queries from many event
loops (each `run()` is an `asyncio.run`, each TestClient has a loop of its own) and an
asyncpg pool belongs to one loop. Piccolo then opens a connection for every query
outside a transaction and for every transaction: some 20,000 per session, at 10-15 ms
each, most of the PostgreSQL half's time. Here a connection Piccolo closes goes back
to an idle list of its event loop instead, reset first as asyncpg's pool resets one
(rollback, advisory locks released, RESET ALL, UNLISTEN, cursors closed), and the next
query on that loop takes it. Reuse happens only inside a `connection_scope()`, which
closes the idle connections when it ends, before its loop does; anywhere else Piccolo
opens and closes connections as it did.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import asyncpg

# Per event loop inside a scope: [open scopes, idle connections]. A loop only touches its own entry.
_scopes: dict[asyncio.AbstractEventLoop, list[Any]] = {}


class RecycledConnection(asyncpg.Connection):
    """An asyncpg connection whose close() hands it back to its loop's idle list while a scope is open."""

    async def close(self, *, timeout: float | None = None) -> None:
        scope = _scopes.get(self._loop)  # type: ignore[attr-defined]
        if scope is None or self.is_closed():
            await super().close(timeout=timeout)
            return
        try:
            await self.reset(timeout=10)
        except Exception:  # noqa: BLE001 - a connection that cannot be reset is not kept
            self.terminate()
            return
        scope[1].append(self)


def reuse_connections(engine: Any) -> None:
    """Make this Piccolo PostgresEngine take idle connections of the running loop's scope first.

    The engine has __slots__, so its class is swapped for a subclass that adds nothing but
    this method (it stays a PostgresEngine; Piccolo's tables keep the same engine object).
    """

    class ReusingEngine(type(engine)):  # type: ignore[misc]
        __slots__ = ()

        async def get_new_connection(self) -> asyncpg.Connection:
            scope = _scopes.get(asyncio.get_running_loop())
            if scope is None:
                return await super().get_new_connection()
            while scope[1]:
                conn = scope[1].pop()
                if not conn.is_closed():
                    return conn
            return await asyncpg.connect(**self.config, connection_class=RecycledConnection)

    engine.__class__ = ReusingEngine


@asynccontextmanager
async def connection_scope() -> AsyncIterator[None]:
    """Reuse connections on this loop until the outermost scope ends; then close the idle ones."""
    loop = asyncio.get_running_loop()
    scope = _scopes.setdefault(loop, [0, []])
    scope[0] += 1
    try:
        yield
    finally:
        scope[0] -= 1
        if scope[0] == 0:
            del _scopes[loop]  # connections still in use close for real when they are done
            for conn in scope[1]:
                await conn.close()


@asynccontextmanager
async def app_lifespan(_app: Any) -> AsyncIterator[None]:
    """A TestClient's requests run on its own loop, from lifespan start to shutdown."""
    async with connection_scope():
        yield
