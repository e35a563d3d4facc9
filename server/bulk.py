"""Many rows in one statement, on the current write transaction's own connection.

Piccolo builds one object and one query string per row, and each query is a
separate trip to the database (on SQLite, four hops to aiosqlite's thread); a
sync push of 500 ops writes a couple of thousand rows. `insert_rows` sends a
table's rows at once instead: one `executemany` on SQLite, one binary COPY on
PostgreSQL (which would otherwise still execute an INSERT per row). Values are
stored exactly as Piccolo stores them: the same column defaults, JSON as the
same text, and on SQLite the text of the adapters Piccolo registers with
`sqlite3` for UUIDs and times. `fetch` and `select_in` read in one trip.

Only call these inside `server.db.write_transaction()`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Iterable, Sequence

from piccolo.columns import JSON, JSONB, UUID, Column, ForeignKey, Serial, Timestamptz
from piccolo.columns.defaults.base import Default
from piccolo.engine.sqlite import ADAPTERS
from piccolo.table import Table

from server.db import engine, is_sqlite

_MARK = re.compile(r"\?")
# piccolo.utils.encoding.dump_json's text (stdlib json, `default=str`), without a new encoder per value.
_JSON = json.JSONEncoder(default=str)


def connection() -> Any:
    """The raw connection (aiosqlite or asyncpg) of the transaction this task is in."""
    transaction = engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk writes need a write transaction")
    return transaction.connection


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...`."""
    counter = itertools.count(1)
    return _MARK.sub(lambda _m: f"${next(counter)}", sql)


async def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run one statement (written with `?` placeholders) for each row of values."""
    if not rows:
        return
    if is_sqlite():
        await connection().executemany(sql, rows)
    else:
        await connection().executemany(_numbered(sql), rows)


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one query (with `?` placeholders) as dicts, on the transaction's connection."""
    if is_sqlite():
        # One trip to aiosqlite's thread (a Piccolo query takes four); Piccolo's connections make rows dicts.
        return [dict(r) for r in await connection().execute_fetchall(sql, args)]
    return [dict(r) for r in await connection().fetch(_numbered(sql), *args)]


def _default(column: Column) -> Callable[[], Any]:
    value = getattr(column, "default", None)
    if isinstance(value, Default):
        return value.python
    if callable(value):
        return value
    return lambda: value


@dataclass(frozen=True)
class _Shape:
    """How one table's rows are written: its columns in order, their defaults and their kinds of value."""

    sql: str
    names: tuple[str, ...]
    pick: Callable[[dict[str, Any]], tuple[Any, ...]]
    key: str | None  # a primary key with a default (a new UUID per row)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]
    json: tuple[str, ...]
    uuids: tuple[str, ...]
    times: tuple[str, ...]


@lru_cache(maxsize=None)
def _shape(table: type[Table]) -> _Shape:
    columns = [c for c in table._meta.columns if not isinstance(c, Serial)]  # the database numbers those
    names = tuple(c._meta.db_column_name for c in columns)
    quoted = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    primary = table._meta.primary_key
    key = primary._meta.db_column_name if isinstance(primary, UUID) else None

    def kind(*types: type) -> tuple[str, ...]:
        return tuple(c._meta.db_column_name for c in columns if isinstance(c, types)
                     or (isinstance(c, ForeignKey) and isinstance(c._foreign_key_meta.resolved_target_column, types)))

    return _Shape(
        sql=f'INSERT INTO "{table._meta.tablename}" ({quoted}) VALUES ({marks})', names=names,
        pick=itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],)),  # type: ignore[arg-type]
        key=key, defaults=tuple((c._meta.db_column_name, _default(c)) for c in columns
                                if c._meta.db_column_name != key),
        json=kind(JSON, JSONB), uuids=kind(UUID), times=kind(Timestamptz),
    )


def _sqlite_time(memo: dict[Any, str], value: Any) -> str:
    """What Piccolo's sqlite3 adapter stores for a time; a push repeats some on every row (its clock)."""
    text = memo.get(value)
    if text is None:
        text = memo[value] = ADAPTERS[type(value)](value)
    return text


async def insert_rows(table: type[Table], rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows given as {column name: value}; missing columns take the column's default."""
    shape = _shape(table)
    defaults = {name: make() for name, make in shape.defaults}  # one "now" for the whole statement
    sqlite = is_sqlite()
    memo: dict[Any, str] = {}
    values = []
    for given in rows:
        row = {**defaults, **given}
        if shape.key is not None and row.get(shape.key) is None:
            row[shape.key] = uuid.uuid4()
        for name in shape.json:
            value = row[name]
            if value is not None and not isinstance(value, str):
                row[name] = _JSON.encode(value)
        if sqlite:  # Piccolo's adapters, applied here rather than by sqlite3 one value at a time
            for name in shape.uuids:
                value = row[name]
                if value is not None:
                    row[name] = str(value)
            for name in shape.times:
                value = row[name]
                if value is not None:
                    row[name] = _sqlite_time(memo, value)
        values.append(shape.pick(row))
    if not values:
        return 0
    if sqlite:
        await connection().executemany(shape.sql, values)
    else:
        # COPY: PostgreSQL executes an INSERT per row even when asyncpg pipelines them; COPY takes them in one go.
        await connection().copy_records_to_table(table._meta.tablename, records=values, columns=list(shape.names))
    return len(values)


async def execute(sql: str, *args: Any) -> None:
    """One statement (with `?` placeholders) on the transaction's connection."""
    await executemany(sql, [args])


async def select_in(table: type[Table], columns: Sequence[str] | None, key: str, ids: Iterable[Any],
                    chunk: int = 500) -> list[dict[str, Any]]:
    """`SELECT columns FROM table WHERE key IN ids` (in chunks), as dicts; JSON columns come back as text.

    `columns=None` reads every column (e.g. to make Table objects of the rows: `Table(**row)`).
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    names = columns or [c._meta.db_column_name for c in table._meta.columns]
    quoted = ", ".join(f'"{c}"' for c in names)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        marks = ", ".join("?" for _ in part)
        rows += await fetch(f'SELECT {quoted} FROM "{table._meta.tablename}" WHERE "{key}" IN ({marks})', *part)
    return rows
