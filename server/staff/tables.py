"""Staff, their site memberships, browser sessions, device tokens and login attempts."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.sites.tables import Site

ROLES = ("guard", "cleaner", "gardener", "technician", "supervisor", "admin")
FIELD_ROLES = ("guard", "cleaner", "gardener", "technician")
SUPERVISOR_ROLES = ("supervisor", "admin")


class Staff(Table):
    id = UUID(primary_key=True)
    username = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    role = Varchar(length=16)
    password_hash = Text()
    active = Boolean(default=True)
    language = Varchar(length=8, default="")
    phone = Varchar(length=32, default="")
    muted = JSON(default=[])  # notification kinds this person does not want pushed
    created_at = Timestamptz(default=TimestamptzNow())
    password_changed_at = Timestamptz(default=TimestamptzNow())
    sites_seq = BigInt(default=0)  # position of the last change to this person's sites
    seq = BigInt(default=0, index=True)


class StaffSite(Table):
    staff = ForeignKey(references=Staff, index=True)
    site = ForeignKey(references=Site, index=True)


class WebSession(Table):
    """A browser session; the cookie holds the token, the table its SHA-256."""

    token_hash = Varchar(length=64, unique=True)
    staff = ForeignKey(references=Staff, index=True)
    csrf_token = Varchar(length=64)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())


class DeviceToken(Table):
    id = UUID(primary_key=True)
    staff = ForeignKey(references=Staff, index=True)
    token_hash = Varchar(length=64, unique=True)
    device_id = Varchar(length=64)
    device_name = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(default=TimestamptzNow())
    last_sync_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class LoginAttempt(Table):
    key = Varchar(length=200, index=True)  # "user:<name>" or "ip:<address>"
    at = Timestamptz(default=TimestamptzNow(), index=True)
