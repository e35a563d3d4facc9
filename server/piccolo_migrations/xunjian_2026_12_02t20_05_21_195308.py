from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

from datetime import datetime, timezone

from piccolo.engine import engine_finder


class TimestamptzAddedToRows(Timestamptz):
    """round_template.created_at as added to a table that has rows, on SQLite.

    SQLite refuses to add a column whose default is not a constant ("Cannot add a
    column with non-constant default"), so there the ALTER TABLE gets a constant
    default; the next migration dates the rows, and new rows get their time from
    the table's TimestamptzNow. PostgreSQL gets `DEFAULT current_timestamp`.
    """

    @property
    def column_type(self):
        return "TIMESTAMPTZ"  # Piccolo names a column's type after its class

    def get_default_value(self):
        return datetime(1970, 1, 1, tzinfo=timezone.utc)


class Manager(MigrationManager):
    """Swaps the column only when the migration runs on SQLite: Piccolo's schema
    snapshot (built from forwards() without running) keeps the plain Timestamptz."""

    async def run(self, backwards=False):
        if engine_finder().engine_type == "sqlite":
            for add in self.add_columns.add_columns:
                if add.tablename == "round_template" and add.column._meta.name == "created_at":
                    column = TimestamptzAddedToRows(**add.column._meta.params)
                    column._meta = add.column._meta
                    add.column = column
        return await super().run(backwards=backwards)


ID = "2026-12-02T20:05:21:195308"
VERSION = "1.38.0"
DESCRIPTION = "slot visited and required, incomplete status, template created_at"


async def forwards():
    manager = Manager(
        migration_id=ID, app_name="xunjian", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="RoundTemplate",
        tablename="round_template",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="PatrolSlot",
        tablename="patrol_slot",
        column_name="required",
        db_column_name="required",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="PatrolSlot",
        tablename="patrol_slot",
        column_name="visited",
        db_column_name="visited",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.alter_column(
        table_class_name="PatrolSlot",
        tablename="patrol_slot",
        column_name="status",
        db_column_name="status",
        params={"length": 16},
        old_params={"length": 8},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
