"""Backup and restore: a restore into an empty data directory finds every record and photo file."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import DATA_DIR, ON_POSTGRES, PG_ADMIN_URL, ROOT, _create_pg_database


def _cli(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def _counts(env: dict[str, str]) -> dict[str, int]:
    """Row counts of every table, read by a separate process pointed at `env`'s database."""
    code = (
        "import asyncio, json\n"
        "from server.tables import ALL_TABLES\n"
        "async def go():\n"
        "    out = {}\n"
        "    for t in ALL_TABLES:\n"  # raw SQL: a column named `count` (Light) shadows Table.count()
        "        rows = await t.raw(f'SELECT COUNT(*) AS n FROM \"{t._meta.tablename}\"')\n"
        "        out[t._meta.tablename] = rows[0]['n']\n"
        "    return out\n"
        "print(json.dumps(asyncio.run(go())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PICCOLO_CONF": "piccolo_conf", **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_backup_then_restore_into_an_empty_data_directory(make_site):
    from server.settings import get_settings

    make_site()  # some records beyond the demo
    photo_dir = get_settings().photo_dir
    (photo_dir / "ab").mkdir(parents=True, exist_ok=True)
    (photo_dir / "ab" / ("ab" + "0" * 62 + ".jpg")).write_bytes(b"\xff\xd8 stand-in photo bytes \xff\xd9")
    source = {"XUNJIAN_DATA_DIR": str(DATA_DIR), "DATABASE_URL": os.environ.get("DATABASE_URL", "")}
    before = _counts(source)
    photos_before = {p.relative_to(photo_dir): p.read_bytes() for p in photo_dir.rglob("*") if p.is_file()}

    backups = Path(tempfile.mkdtemp(prefix="xunjian-backups-"))
    made = _cli(["backup", str(backups)], source)
    assert made.returncode == 0, made.stderr
    archive = next(backups.glob("xunjian-backup-*.tar"))
    assert archive.stat().st_mode & 0o077 == 0

    target_dir = Path(tempfile.mkdtemp(prefix="xunjian-restored-"))
    target = {"XUNJIAN_DATA_DIR": str(target_dir),
              "DATABASE_URL": _create_pg_database(PG_ADMIN_URL) if ON_POSTGRES else ""}
    restored = _cli(["restore", str(archive)], target)
    assert restored.returncode == 0, restored.stderr
    assert _counts(target) == before
    restored_photos = target_dir / "photos"
    after = {p.relative_to(restored_photos): p.read_bytes() for p in restored_photos.rglob("*") if p.is_file()}
    assert after == photos_before
    assert (target_dir / "secret_key").read_text() == (DATA_DIR / "secret_key").read_text()

    # A second restore over live data is refused rather than silently mixing two databases.
    if not ON_POSTGRES:
        again = _cli(["restore", str(archive)], target)
        assert again.returncode != 0 and "already holds data" in again.stderr
