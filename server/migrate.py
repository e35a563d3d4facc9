"""Running Piccolo migrations from code (on every start, and from `xunjian migrate`)."""

from __future__ import annotations

import os

os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")


async def migrate() -> None:
    """Bring the database to the latest schema; several processes starting at once take turns."""
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.engine.postgres import PostgresEngine

    from server.changes import ensure_counter
    from server.db import engine

    db = engine()
    if isinstance(db, PostgresEngine):
        import asyncpg

        conn = await asyncpg.connect(**db.config)
        try:
            await conn.execute("SELECT pg_advisory_lock(727100)")
            result = await run_forwards(app_name="xunjian")
            await conn.execute("SELECT pg_advisory_unlock(727100)")
        finally:
            await conn.close()
    else:
        result = await run_forwards(app_name="xunjian")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
    await ensure_counter()
