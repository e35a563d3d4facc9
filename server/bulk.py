"""Many rows in one statement, on the current write transaction's own connection.

Piccolo builds one object and one query string per row, and each query is a
separate trip to the database (on SQLite, four hops to aiosqlite's thread); a
sync push of 500 ops writes a couple of thousand rows. `insert_rows` sends a
table's rows at once instead: one `executemany` on SQLite, one binary COPY on
PostgreSQL (which would otherwise still execute an INSERT per row). Values are
stored exactly as Piccolo stores them: the same column defaults, JSON as the
same text, and on SQLite the text of the adapters Piccolo registers with
`sqlite3` for UUIDs and times. `fetch` and `select_in` read in one trip.

Only call these inside `server.db.write_transaction()` (`column_list` only writes SQL text).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from piccolo.columns import JSON, JSONB, UUID, Column, ForeignKey, Serial, Timestamptz
from piccolo.columns.defaults.base import Default
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


_EMPTY_JSON = {list: "[]", dict: "{}"}


def _json_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if not value and type(value) in _EMPTY_JSON:  # most photo lists are empty
        return _EMPTY_JSON[type(value)]
    return _JSON.encode(value)


def _new_key(value: Any) -> Any:
    return uuid.uuid4() if value is None else value


@dataclass(frozen=True)
class _Shape:
    """How one table's rows are written: the INSERT, its columns' defaults, and a row builder per database."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Callable[[], Any], ...]  # one per column (a new key per row is the builder's job)
    build_sqlite: Callable[..., tuple[Any, ...]]
    build_postgres: Callable[..., tuple[Any, ...]]


def _builder(names: tuple[str, ...], steps: dict[str, list[str]]) -> Callable[..., tuple[Any, ...]]:
    """`build(row, defaults, text)`: the row's values in column order, each through its steps.

    Written out as one expression per table (as `collections.namedtuple` and `dataclasses` write
    their methods): a push turns tens of thousands of dicts into tuples, and a loop over columns
    per row costs more than the database's own insert.
    """
    cells = []
    for index, name in enumerate(names):
        cell = f"get({name!r}, defaults[{index}])"
        for step in steps.get(name, []):
            cell = f"{step}({cell})"
        cells.append(cell)
    source = (f"def build(row, defaults, text):\n    get, uuid_text, time_text = row.get, text.uuid, text.time\n"
              f"    return ({', '.join(cells)},)\n")
    namespace: dict[str, Any] = {"json_text": _json_text, "new_key": _new_key}
    exec(source, namespace)  # noqa: S102 - the source is made from column names of our own tables
    return namespace["build"]


@lru_cache(maxsize=None)
def _shape(table: type[Table]) -> _Shape:
    columns = [c for c in table._meta.columns if not isinstance(c, Serial)]  # the database numbers those
    names = tuple(c._meta.db_column_name for c in columns)
    quoted = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    primary = table._meta.primary_key
    key = primary._meta.db_column_name if isinstance(primary, UUID) else None

    def kind(*types: type) -> list[str]:
        return [c._meta.db_column_name for c in columns if isinstance(c, types)
                or (isinstance(c, ForeignKey) and isinstance(c._foreign_key_meta.resolved_target_column, types))]

    # Values are stored as Piccolo stores them: JSON as text, and on SQLite the text of the adapters
    # Piccolo registers with sqlite3 for UUIDs and times (applied here, not by sqlite3 value by value).
    postgres: dict[str, list[str]] = {name: ["json_text"] for name in kind(JSON, JSONB)}
    if key is not None:
        postgres[key] = ["new_key"]
    sqlite = {name: list(found) for name, found in postgres.items()}
    for name in kind(UUID):
        sqlite.setdefault(name, []).append("uuid_text")
    for name in kind(Timestamptz):
        sqlite.setdefault(name, []).append("time_text")
    return _Shape(
        sql=f'INSERT INTO "{table._meta.tablename}" ({quoted}) VALUES ({marks})', names=names,
        defaults=tuple((lambda: None) if name == key else _default(column) for name, column in zip(names, columns)),
        build_sqlite=_builder(names, sqlite), build_postgres=_builder(names, postgres),
    )


class SQLiteText:
    """The text Piccolo's sqlite3 adapters store for UUIDs and times, remembered for one push.

    A push names the same staff, site, rounds, visits and clock on row after row, and
    turning a UUID or a time into text costs more than looking it up.
    """

    def __init__(self) -> None:
        self._uuids: dict[int, str] = {}
        self._times: dict[Any, str] = {}

    def uuid(self, value: Any) -> Any:
        if value is None:
            return None
        key = value.int  # hashing the int skips uuid.UUID.__hash__, a Python-level call
        text = self._uuids.get(key)
        if text is None:
            text = self._uuids[key] = str(value)
        return text

    def time(self, value: Any) -> Any:
        """piccolo.engine.sqlite.convert_datetime_in: aware times in UTC, as `str()` writes them."""
        if value is None:
            return None
        text = self._times.get(value)
        if text is None:
            moment = value
            if moment.tzinfo is not None and moment.tzinfo is not timezone.utc:
                moment = moment.astimezone(timezone.utc)
            text = self._times[value] = str(moment)  # isoformat(" "), without parsing a keyword (a third quicker)
        return text


async def insert_rows(table: type[Table], rows: Iterable[dict[str, Any]], text: SQLiteText | None = None) -> int:
    """Insert rows given as {column name: value}; missing columns take the column's default.

    Statements of one push may share `text` (it is only used on SQLite).
    """
    shape = _shape(table)
    defaults = tuple(make() for make in shape.defaults)  # one "now" for the whole statement
    sqlite = is_sqlite()
    build = shape.build_sqlite if sqlite else shape.build_postgres
    text = text or SQLiteText()
    values = [build(row, defaults, text) for row in rows]
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


def column_list(table: type[Table], alias: str, labelled: bool = False) -> str:
    """`alias."column", ...` for every column of `table`, for a query written out; `labelled` names each
    `"alias.column"`, to tell apart two tables' columns of the same name."""
    names = [c._meta.db_column_name for c in table._meta.columns]
    if labelled:
        return ", ".join(f'{alias}."{name}" AS "{alias}.{name}"' for name in names)
    return ", ".join(f'{alias}."{name}"' for name in names)


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
