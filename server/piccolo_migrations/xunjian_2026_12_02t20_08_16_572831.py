"""Recompute the stored patrol slots from the rounds already stored, and date the templates.

Frozen: plain SQL over the tables as they stand after 2026-12-02T20:05:21 (no app
imports), valid on SQLite and PostgreSQL. For every slot a round settled:
`required` = the template's items, `visited` = the distinct checkpoints of those
items the round has visits for; a slot settled done or late whose round visited
fewer than it requires becomes `incomplete` (server/rounds/schedule.py). Templates
made before `created_at` existed are dated by their site's creation.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import UUID
from piccolo.table import Table

ID = "2026-12-02T20:08:16:572831"
VERSION = "1.38.0"
DESCRIPTION = "recompute patrol slots from stored rounds"


class PatrolSlot(Table, tablename="patrol_slot"):
    id = UUID(primary_key=True)


STATEMENTS = (
    'UPDATE "round_template" SET "created_at" = '
    '(SELECT "site"."created_at" FROM "site" WHERE "site"."id" = "round_template"."site")',
    'UPDATE "patrol_slot" SET '
    '"required" = (SELECT COUNT(*) FROM "template_item" '
    'WHERE "template_item"."template" = "patrol_slot"."template"), '
    '"visited" = (SELECT COUNT(DISTINCT "visit"."checkpoint") FROM "visit" '
    'WHERE "visit"."round" = "patrol_slot"."round" AND "visit"."checkpoint" IN '
    '(SELECT "template_item"."checkpoint" FROM "template_item" '
    'WHERE "template_item"."template" = "patrol_slot"."template")) '
    'WHERE "round" IS NOT NULL',
    'UPDATE "patrol_slot" SET "status" = \'incomplete\' '
    'WHERE "round" IS NOT NULL AND "status" IN (\'done\', \'late\') AND "visited" < "required"',
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xunjian", description=DESCRIPTION)

    async def recompute():
        for statement in STATEMENTS:
            await PatrolSlot.raw(statement)

    manager.add_raw(recompute)
    return manager
