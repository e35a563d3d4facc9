"""Passwords, browser sessions, login rate limiting and device tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from server.bulk import column_list
from server.db import write_transaction
from server.errors import RateLimited, Unauthorized
from server.secrets_box import new_token, sha256_hex
from server.settings import get_settings
from server.staff.tables import DeviceToken, LoginAttempt, Staff, WebSession

# By XUNJIAN_PASSWORD_HASH. The test suite logs in and creates staff hundreds of times: at
# 64 MiB and three passes a hash takes a third of a second on a busy two-core machine.
# A hash records its own parameters, so either profile verifies the other's hashes.
_PROFILES = {"argon2id": profiles.RFC_9106_LOW_MEMORY, "argon2id-test": profiles.CHEAPEST}
_hashers: dict[str, tuple[PasswordHasher, str]] = {}


def _hasher() -> tuple[PasswordHasher, str]:
    """The configured hasher, and a hash of its own to verify against when the username is unknown.

    The dummy hash has the same parameters as real ones, so a login for someone who does
    not exist takes as long as for someone who does, and does not reveal who exists.
    """
    name = get_settings().password_hash
    if name not in _hashers:
        if name not in _PROFILES:
            raise ValueError(f"XUNJIAN_PASSWORD_HASH: unknown {name!r} (one of {', '.join(_PROFILES)})")
        hasher = PasswordHasher.from_parameters(_PROFILES[name])
        _hashers[name] = (hasher, hasher.hash("not-a-real-password"))
    return _hashers[name]


def now() -> datetime:
    return datetime.now(timezone.utc)


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher()[0].verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def check_rate_limit(username: str, address: str) -> None:
    """Refuse a login attempt while too many recent ones failed for this name or address."""
    settings = get_settings()
    since = now() - timedelta(minutes=settings.login_window_minutes)
    limits = ((f"user:{username.lower()}", settings.login_max_attempts),
              (f"ip:{address}", settings.login_max_attempts_per_address))
    for key, limit in limits:
        failures = await LoginAttempt.count().where((LoginAttempt.key == key) & (LoginAttempt.at > since))
        if failures >= limit:
            raise RateLimited(
                "登录失败次数过多, 请稍后再试 / too many failed logins, try again later",
                code="rate_limited",
                retry_after_minutes=settings.login_window_minutes,
            )


async def record_failure(username: str, address: str) -> None:
    async with write_transaction():
        await LoginAttempt.insert(
            LoginAttempt(key=f"user:{username.lower()}"), LoginAttempt(key=f"ip:{address}")
        )


async def authenticate(username: str, password: str, address: str) -> Staff:
    """The active staff member with these credentials; failures are counted for rate limiting."""
    await check_rate_limit(username, address)
    staff = await Staff.objects().where(Staff.username == username.strip()).first()
    ok = verify_password(staff.password_hash if staff else _hasher()[1], password)
    if staff is None or not ok or not staff.active:
        await record_failure(username, address)
        raise Unauthorized("用户名或密码错误 / wrong username or password", code="bad_credentials")
    await LoginAttempt.delete().where(LoginAttempt.key == f"user:{username.lower()}")
    return staff


@dataclass
class SessionInfo:
    staff: Staff
    session: WebSession


async def create_session(staff: Staff) -> str:
    """A new browser session; the cookie gets the token, the table only its hash."""
    token = new_token()
    async with write_transaction():
        await WebSession.insert(WebSession(token_hash=sha256_hex(token), staff=staff.id, csrf_token=new_token(16)))
    return token


async def session_user(token: str | None) -> Staff | None:
    """The active staff member of a live session, extending it on use."""
    if not token:
        return None
    session = await WebSession.objects().where(WebSession.token_hash == sha256_hex(token)).first()
    if session is None:
        return None
    lifetime = timedelta(hours=get_settings().session_hours)
    if session.last_seen_at + lifetime < now():
        await WebSession.delete().where(WebSession.id == session.id)
        return None
    staff = await Staff.objects().where(Staff.id == session.staff).first()
    if staff is None or not staff.active or staff.password_changed_at > session.created_at:
        await WebSession.delete().where(WebSession.id == session.id)
        return None
    if now() - session.last_seen_at > timedelta(minutes=5):
        await WebSession.update({WebSession.last_seen_at: now()}).where(WebSession.id == session.id)
    return staff


async def end_session(token: str | None) -> None:
    if token:
        await WebSession.delete().where(WebSession.token_hash == sha256_hex(token))


async def issue_device_token(staff: Staff, device_id: str, device_name: str) -> str:
    """A long-lived token for one device; a second login from the same device replaces the first."""
    token = new_token()
    async with write_transaction():
        await DeviceToken.update({DeviceToken.revoked_at: now()}).where(
            (DeviceToken.staff == staff.id) & (DeviceToken.device_id == device_id)
            & DeviceToken.revoked_at.is_null()
        )
        await DeviceToken.insert(DeviceToken(
            staff=staff.id, token_hash=sha256_hex(token), device_id=device_id[:64], device_name=device_name[:200],
        ))
    return token


@dataclass
class DeviceAuth:
    staff: Staff
    token: DeviceToken


_TOKEN_COLUMNS = [c._meta.db_column_name for c in DeviceToken._meta.columns]
_STAFF_COLUMNS = [c._meta.db_column_name for c in Staff._meta.columns]
# The token with its staff member in one query: every sync request starts here. Written out:
# Piccolo's objects() with the join took 3.5 ms a request to build its query and rows (0.4 ms now).
_TOKEN_WITH_STAFF = (
    f"SELECT {column_list(DeviceToken, 't', labelled=True)}, {column_list(Staff, 's', labelled=True)} "
    f'FROM "{DeviceToken._meta.tablename}" t LEFT JOIN "{Staff._meta.tablename}" s ON s."id" = t."staff" '
    'WHERE t."token_hash" = {}'
)


async def device_user(token: str | None, touch: bool = True) -> DeviceAuth:
    """The staff member behind a device token, or 401 bad_token / token_expired.

    `touch=False` leaves `last_used_at` to the caller (a sync push sets it with `last_sync_at`).
    """
    if not token:
        raise Unauthorized("请登录 / log in first", code="bad_token")
    found = await DeviceToken.raw(_TOKEN_WITH_STAFF, sha256_hex(token))
    if not found:
        raise Unauthorized("未知的设备令牌 / unknown device token", code="bad_token")
    first = found[0]
    row = DeviceToken(_exists_in_db=True, **{name: first[f"t.{name}"] for name in _TOKEN_COLUMNS})
    staff = None if first["s.id"] is None else Staff(
        _exists_in_db=True, **{name: first[f"s.{name}"] for name in _STAFF_COLUMNS})
    lifetime = timedelta(days=get_settings().device_token_days)
    if (row.revoked_at is not None or row.last_used_at + lifetime < now()
            or staff is None or not staff.active):
        raise Unauthorized("登录已过期, 请重新输入密码 / login expired, enter your password again",
                           code="token_expired")
    if touch and now() - row.last_used_at > timedelta(minutes=1):
        await DeviceToken.update({DeviceToken.last_used_at: now()}).where(DeviceToken.id == row.id)
    return DeviceAuth(staff=staff, token=row)


async def revoke_device_tokens(staff_id: uuid.UUID, token_id: uuid.UUID | None = None) -> int:
    """Revoke one device token of a person, or all of them."""
    where = (DeviceToken.staff == staff_id) & DeviceToken.revoked_at.is_null()
    if token_id is not None:
        where = where & (DeviceToken.id == token_id)
    async with write_transaction():
        rows = await DeviceToken.update({DeviceToken.revoked_at: now()}).where(where).returning(DeviceToken.id)
    return len(rows)
