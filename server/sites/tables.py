"""Sites (小区), their zones, checkpoints, per-site standard figures and lighting register."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Site(Table):
    id = UUID(primary_key=True)
    name = Varchar(length=200)
    address = Varchar(length=500, default="")
    level = Integer(default=2)  # service level 一级/二级/三级
    timezone = Varchar(length=64, default="Asia/Shanghai")
    wecom_webhook = Text(default="")  # a secret: never shown in full, never pulled
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    seq = BigInt(default=0, index=True)


class Zone(Table):
    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    name = Varchar(length=200)
    sort_order = Integer(default=0)
    retired = Boolean(default=False)
    seq = BigInt(default=0, index=True)


class Checkpoint(Table):
    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    zone = ForeignKey(references=Zone, null=True)
    name = Varchar(length=200)
    kind = Varchar(length=40, default="core")
    # SHA-256 hex of the poster's QR secret and short code; the secret itself is
    # kept encrypted with the server key so posters can be printed again.
    qr_hash = Varchar(length=64)
    code_hash = Varchar(length=64)
    secret_enc = Text(default="")
    lat = Float(null=True, default=None)
    lng = Float(null=True, default=None)
    sort_order = Integer(default=0)
    retired = Boolean(default=False)
    seq = BigInt(default=0, index=True)


class SiteFigure(Table):
    """One figure of the standard as this site uses it (deadline minutes or rate percent)."""

    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    code = Varchar(length=64)  # e.g. sla.dead_tree, rate.lighting_intact
    kind = Varchar(length=8)  # sla | rate
    value = Float()
    default_value = Float()
    extrapolated = Boolean(default=False)


class Light(Table):
    """Lighting register: public lights per zone (a count, or one row per light)."""

    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    zone = ForeignKey(references=Zone, null=True)
    label = Varchar(length=200, default="")
    count = Integer(default=1)
    retired = Boolean(default=False)


class Deletion(Table):
    """A tombstone so incremental pulls can tell phones what disappeared."""

    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, null=True, index=True)
    record_type = Varchar(length=32)
    record_id = Varchar(length=64)
    seq = BigInt(default=0, index=True)


class ChangeCounter(Table):
    """A single row: the position of the last committed change (the pull cursor)."""

    value = BigInt(default=0)


class AuditEntry(Table):
    id = UUID(primary_key=True)
    at = Timestamptz(default=TimestamptzNow(), index=True)
    actor = Varchar(length=64, default="")
    site = ForeignKey(references=Site, null=True)
    action = Varchar(length=64)
    target = Varchar(length=200, default="")
    detail = JSON(default={})
