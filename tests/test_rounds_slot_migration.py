"""The migration that recomputes stored patrol slots from their rounds (SQLite and PostgreSQL).

A data folder (or database) is brought to the schema of the build before the
migration, filled with raw rows as that build wrote them (a slot settled `done`
by a round that skipped five of nine checkpoints, a `late` one by a full round,
a pending one), then migrated by `xunjian migrate`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

from conftest import ON_POSTGRES, PG_ADMIN_URL, ROOT, _create_pg_database

BEFORE = "2026-11-27T17:33:12:416804"  # the last migration of the build without visited/required

OLD_BUILD = textwrap.dedent('''
    import asyncio, json, uuid
    from datetime import datetime, timedelta, timezone
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.columns import UUID
    from piccolo.table import Table

    class Raw(Table, tablename="site"):
        id = UUID(primary_key=True)

    async def sql(statement, *values):
        return await Raw.raw(statement, *values)

    async def main():
        result = await run_forwards(app_name="xunjian", migration_id="{before}")
        assert result.success, result.message
        site, zone, staff, template = (uuid.uuid4() for _ in range(4))
        created = datetime(2025, 3, 1, tzinfo=timezone.utc)
        await sql('INSERT INTO "site" ("id", "name", "created_at") VALUES ({{}}, {{}}, {{}})', site, "old", created)
        await sql('INSERT INTO "zone" ("id", "site", "name") VALUES ({{}}, {{}}, {{}})', zone, site, "z")
        await sql('INSERT INTO "staff" ("id", "username", "role") VALUES ({{}}, {{}}, {{}})', staff, "g-old", "guard")
        await sql('INSERT INTO "round_template" ("id", "site", "code", "role", "kind", "frequency") '
                  'VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}})', template, site, "patrol.core", "guard", "patrol",
                  json.dumps({{"period": "hours", "every": 2}}))
        checkpoints = [uuid.uuid4() for _ in range(10)]
        for i, cp in enumerate(checkpoints):
            await sql('INSERT INTO "checkpoint" ("id", "site", "zone", "name") VALUES ({{}}, {{}}, {{}}, {{}})',
                      cp, site, zone, f"cp{{i}}")
        for i, cp in enumerate(checkpoints[:9]):  # the tenth is not on the round
            await sql('INSERT INTO "template_item" ("id", "template", "checkpoint", "position") '
                      'VALUES ({{}}, {{}}, {{}}, {{}})', uuid.uuid4(), template, cp, i)
        rounds, slots = {{}}, {{}}
        for name, visited, status, hour in (("partial", [0, 1, 2, 3, 3, 9], "done", 8),
                                            ("full", list(range(9)), "late", 10), ("none", None, "pending", 12)):
            start = created + timedelta(days=1, hours=hour)
            slot = uuid.uuid4()
            rnd = uuid.uuid4() if visited is not None else None
            if rnd:
                await sql('INSERT INTO "inspection_round" ("id", "template", "site", "staff", "state", "started_at", '
                          '"started_device_at", "finished_at", "finished_device_at", "slot") '
                          'VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}})', rnd, template, site, staff,
                          "finished", start, start, start + timedelta(minutes=30), start + timedelta(minutes=30), slot)
                for k in visited:  # checkpoint 3 twice, and one not on the round
                    at = start + timedelta(minutes=k)
                    await sql('INSERT INTO "visit" ("id", "round", "site", "checkpoint", "staff", "proof", '
                              '"scanned_at", "scanned_device_at") VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}})',
                              uuid.uuid4(), rnd, site, checkpoints[k], staff, "qr", at, at)
            await sql('INSERT INTO "patrol_slot" ("id", "template", "site", "window_start", "window_end", "status", '
                      '"round", "staff") VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}})', slot, template, site,
                      start, start + timedelta(hours=2), status, rnd, staff if rnd else None)
            slots[name] = str(slot)
        print(json.dumps({{"slots": slots, "template": str(template)}}))

    asyncio.run(main())
''').format(before=BEFORE)

READ_BACK = textwrap.dedent('''
    import asyncio, json, sys
    from piccolo.columns import UUID
    from piccolo.table import Table

    class Raw(Table, tablename="site"):
        id = UUID(primary_key=True)

    async def main():
        slots = await Raw.raw('SELECT "id", "status", "visited", "required" FROM "patrol_slot"')
        dated = await Raw.raw('SELECT COUNT(*) AS "n" FROM "round_template" JOIN "site" '
                              'ON "site"."id" = "round_template"."site" '
                              'WHERE "round_template"."created_at" = "site"."created_at"')
        from server.rounds.tables import RoundTemplate  # the app's table reads the new column as a time
        created = await RoundTemplate.select(RoundTemplate.created_at).first()
        print(json.dumps({"slots": {str(r["id"]): [r["status"], r["visited"], r["required"]] for r in slots},
                          "dated": dated[0]["n"], "created_at": created["created_at"].isoformat()}))

    asyncio.run(main())
''')


def _python(code: str, data_dir: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XUNJIAN_DATA_DIR": data_dir, "DATABASE_URL": url, "PICCOLO_CONF": "piccolo_conf"}
    return subprocess.run([sys.executable, *(["-c", code] if code else []), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_migration_recomputes_a_done_slot_whose_round_skipped_checkpoints_as_incomplete():
    data_dir = tempfile.mkdtemp(prefix="xunjian-slot-migration-")
    url = _create_pg_database(PG_ADMIN_URL) if ON_POSTGRES else ""
    old = _python(OLD_BUILD, data_dir, url)
    assert old.returncode == 0, old.stderr
    made = json.loads(old.stdout.strip().splitlines()[-1])

    migrated = _python("", data_dir, url, "-m", "server", "migrate")
    assert migrated.returncode == 0, migrated.stderr

    read = _python(READ_BACK, data_dir, url)
    assert read.returncode == 0, read.stderr
    after = json.loads(read.stdout.strip().splitlines()[-1])
    slots = {name: after["slots"][sid] for name, sid in made["slots"].items()}
    # Visited: checkpoints 0-3 of the nine (3 twice, the tenth not on the round): 4 of 9.
    assert slots["partial"] == ["incomplete", 4, 9]
    assert slots["full"] == ["late", 9, 9]
    assert slots["none"] == ["pending", None, None]
    assert after["dated"] == 1 and after["created_at"] == "2025-03-01T00:00:00+00:00"  # dated by its site's creation

    again = _python("", data_dir, url, "-m", "server", "migrate")
    assert again.returncode == 0 and "up to date" in again.stdout
