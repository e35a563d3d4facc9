"""All configuration, read from the environment once (Starlette `Config` style)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path


def _setting(default, help: str):  # noqa: A002 - mirrors dataclass metadata
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting has an environment variable named XUNJIAN_<FIELD> (DATABASE_URL is bare)."""

    database_url: str = _setting("", "PostgreSQL URL (postgresql://user:pass@host/db); empty means SQLite in the data directory")
    data_dir: str = _setting("./data", "Directory holding the SQLite file, photos, the secret key and VAPID keys")
    secret_key: str = _setting("", "Signing/encryption key; made on first run and kept in DATA_DIR/secret_key when empty")
    session_hours: int = _setting(12, "Browser session lifetime in hours since last use")
    device_token_days: int = _setting(30, "Device token lifetime in days since last use")
    photo_max_bytes: int = _setting(15 * 1024 * 1024, "Largest photo upload accepted, in bytes")
    photo_max_pixels: int = _setting(50_000_000, "Largest decoded photo in pixels; bigger is a decompression bomb")
    photo_decode_mb: int = _setting(320, "Memory photo decoding may take at once per server process, in MiB; uploads wait their turn, one that alone needs more is refused (422)")
    db_pool_size: int = _setting(10, "PostgreSQL connections per server process (0: a connection per query)")
    public_url: str = _setting("http://127.0.0.1:8000", "Base URL people reach the server at (links in notifications and posters)")
    secure_cookies: str = _setting("auto", "Secure flag on cookies: auto (when PUBLIC_URL is https), true or false")
    login_max_attempts: int = _setting(5, "Failed logins allowed per username in the lockout window")
    login_max_attempts_per_address: int = _setting(50, "Failed logins allowed per client address in the lockout window (offices share one address)")
    login_window_minutes: int = _setting(15, "Lockout window for failed logins, in minutes")
    slot_grace_minutes: int = _setting(15, "Grace after a patrol window ends before a round counts as late or the slot as missed")
    skew_flag_minutes: int = _setting(5, "Device clock skew above which records are flagged")
    scheduler_seconds: int = _setting(60, "Scheduler period in seconds (0 disables the in-process scheduler)")
    vapid_private_key: str = _setting("", "VAPID private key (PEM file path or base64url); made in DATA_DIR when empty")
    vapid_subject: str = _setting("mailto:admin@example.com", "VAPID subject (mailto: or https: contact of the operator)")
    default_language: str = _setting("zh-CN", "Language of screens for people who have not chosen one (zh-CN or en)")
    password_hash: str = _setting("argon2id", "Password hashing: argon2id (RFC 9106 low-memory: 3 passes, 64 MiB, 4 lanes); argon2id-test is the cheapest argon2id, for the test suite only")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def sqlite_path(self) -> Path:
        return self.data_path / "xunjian.sqlite3"

    @property
    def photo_dir(self) -> Path:
        return self.data_path / "photos"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies == "auto":
            return self.public_url.startswith("https://")
        return self.secure_cookies.lower() in ("1", "true", "yes")

    def signing_key(self) -> bytes:
        """The secret key, made once and kept in the data directory when not configured."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_path / "secret_key"
        if not path.exists():
            self.data_path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def env_name(name: str) -> str:
    return "DATABASE_URL" if name == "database_url" else f"XUNJIAN_{name.upper()}"


def setting_docs() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting: the README table is checked against it."""
    return [(env_name(f.name), str(f.default), f.metadata["help"]) for f in fields(Settings)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {}
    for f in fields(Settings):
        raw = os.environ.get(env_name(f.name))
        if raw is not None:
            values[f.name] = int(raw) if isinstance(f.default, int) else raw
    return Settings(**values)
