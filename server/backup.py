"""Backups: the database (SQLite online backup API, or pg_dump), the photo folder and the keys, in one tar file."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

from server.settings import Settings, get_settings

KEY_FILES = ("secret_key", "vapid_private.pem")
FORMAT_VERSION = 1


def _pg_tool(name: str) -> str:
    """The newest pg_dump/pg_restore installed (Debian keeps them per version), else the one on PATH."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install the PostgreSQL client tools")
    return found


def _pg_env(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = urlparse(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = unquote(parsed.password)
    args = ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432),
            "-U", unquote(parsed.username or "postgres"), "-d", parsed.path.lstrip("/")]
    return args, env


def backup(destination: Path, settings: Settings | None = None) -> Path:
    """Write a consistent backup tar into `destination` and return its path."""
    settings = settings or get_settings()
    destination.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = destination / f"xunjian-backup-{stamp}.tar"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if settings.is_postgres:
            args, env = _pg_env(settings.database_url)
            subprocess.run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(work / "database.pgdump"), *args],
                           check=True, env=env)
            kind = "postgresql"
        else:
            # The online backup API copies a consistent snapshot while the server keeps writing.
            src = sqlite3.connect(settings.sqlite_path)
            dst = sqlite3.connect(work / "database.sqlite3")
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
            kind = "sqlite"
        manifest = {"format": FORMAT_VERSION, "database": kind, "created_at": stamp}
        (work / "manifest.json").write_text(json.dumps(manifest))
        with tarfile.open(out, "w") as tar:
            for name in ("manifest.json", "database.pgdump", "database.sqlite3"):
                if (work / name).exists():
                    tar.add(work / name, arcname=name)
            for key in KEY_FILES:
                if (settings.data_path / key).exists():
                    tar.add(settings.data_path / key, arcname=f"keys/{key}")
            if settings.photo_dir.exists():
                tar.add(settings.photo_dir, arcname="photos")
    out.chmod(0o600)  # it holds the secret key
    return out


def restore(archive: Path, settings: Settings | None = None, force: bool = False) -> dict[str, int]:
    """Restore a backup into the configured data directory and database (empty unless `force`)."""
    settings = settings or get_settings()
    data = settings.data_path
    if not force and (settings.sqlite_path.exists() or (settings.photo_dir.exists() and any(settings.photo_dir.iterdir()))):
        raise SystemExit(f"{data} already holds data: restore into an empty data directory, or pass --force")
    data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        work = Path(tmp)
        manifest = json.loads((work / "manifest.json").read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise SystemExit(f"unknown backup format {manifest.get('format')}")
        if manifest["database"] == "postgresql":
            if not settings.is_postgres:
                raise SystemExit("this backup is of a PostgreSQL database: set DATABASE_URL to restore it")
            args, env = _pg_env(settings.database_url)
            subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--clean", "--if-exists", *args,
                            str(work / "database.pgdump")], check=True, env=env)
        else:
            if settings.is_postgres:
                raise SystemExit("this backup is of a SQLite database: unset DATABASE_URL to restore it")
            for suffix in ("", "-wal", "-shm"):
                Path(str(settings.sqlite_path) + suffix).unlink(missing_ok=True)
            shutil.copyfile(work / "database.sqlite3", settings.sqlite_path)
            with sqlite3.connect(settings.sqlite_path) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        for key in KEY_FILES:
            if (work / "keys" / key).exists():
                shutil.copyfile(work / "keys" / key, data / key)
                (data / key).chmod(0o600)
        photos = 0
        if (work / "photos").exists():
            shutil.copytree(work / "photos", settings.photo_dir, dirs_exist_ok=True)
            photos = sum(1 for p in settings.photo_dir.rglob("*") if p.is_file())
    return {"photo_files": photos}
