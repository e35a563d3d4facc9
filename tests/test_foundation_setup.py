"""Migrations on an empty database, the command line, settings documented in the README, OpenAPI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conftest import ON_POSTGRES, PG_ADMIN_URL, ROOT, _create_pg_database


def _cli(args: list[str], data_dir: str, database_url: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XUNJIAN_DATA_DIR": data_dir, "DATABASE_URL": database_url}
    env.pop("XUNJIAN_PASSWORD_HASH")  # as deployed: the production password hashing, not the suite's cheap one
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _password_hashes(data_dir: str, database_url: str) -> dict[str, str]:
    """username -> stored password hash, read straight from the database the commands wrote."""
    if database_url:
        import asyncio

        import asyncpg

        async def go() -> list[Any]:
            conn = await asyncpg.connect(database_url)
            try:
                return list(await conn.fetch("SELECT username, password_hash FROM staff"))
            finally:
                await conn.close()

        rows = asyncio.run(go())
    else:
        import sqlite3

        with sqlite3.connect(Path(data_dir) / "xunjian.sqlite3") as conn:
            rows = conn.execute("SELECT username, password_hash FROM staff").fetchall()
    return {username: password_hash for username, password_hash in rows}


def test_migrations_forward_on_an_empty_database_then_demo_then_a_user():
    data_dir = tempfile.mkdtemp(prefix="xunjian-migrate-")
    url = _create_pg_database(PG_ADMIN_URL) if ON_POSTGRES else ""
    first = _cli(["migrate"], data_dir, url)
    assert first.returncode == 0, first.stderr
    again = _cli(["migrate"], data_dir, url)
    assert again.returncode == 0 and "up to date" in again.stdout
    demo = _cli(["demo"], data_dir, url)
    assert demo.returncode == 0 and "guard1" in demo.stdout, demo.stderr
    user = _cli(["create-user", "newguard", "--role", "guard", "--password", "long-enough-pw", "--site", "阳光花园"],
                data_dir, url)
    assert user.returncode == 0 and "Created newguard" in user.stdout, user.stderr
    short = _cli(["create-user", "weak", "--role", "guard", "--password", "short"], data_dir, url)
    assert short.returncode != 0 and "密码至少" in short.stderr
    # Stored as argon2id with RFC 9106's low-memory parameters (3 passes, 64 MiB, 4 lanes), salted per person.
    hashes = _password_hashes(data_dir, url)
    assert {"guard1", "admin", "newguard"} <= set(hashes)
    assert all(h.startswith("$argon2id$v=19$m=65536,t=3,p=4$") for h in hashes.values()), hashes
    assert len(set(hashes.values())) == len(hashes)  # the demo users share a password, not a hash
    from server.staff.auth import verify_password  # the suite's cheap profile verifies them too: a hash names its parameters

    assert verify_password(hashes["newguard"], "long-enough-pw") and not verify_password(hashes["newguard"], "long-enough-pX")
    if not ON_POSTGRES:
        import sqlite3

        path = Path(data_dir) / "xunjian.sqlite3"
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"site", "staff", "inspection_round", "visit", "rectification", "sync_op", "photo"} <= tables
        assert (Path(data_dir) / "secret_key").stat().st_mode & 0o077 == 0


def test_readme_configuration_table_matches_settings():
    from server.settings import setting_docs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", readme, flags=re.M))
    documented = {name: default for name, default, _help in setting_docs()}
    assert rows == documented


def test_openapi_schema_lists_json_endpoints(client):
    schema = client.get("/schema/openapi.json").json()
    assert "/api/auth/device" in schema["paths"]
    assert "/api/sites/{site_id}" in schema["paths"]
