"""Web Push subscriptions and the in-app notification inbox."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.staff.tables import Staff


class PushSubscription(Table):
    id = UUID(primary_key=True)
    staff = ForeignKey(references=Staff, index=True)
    endpoint = Text(unique=True)
    p256dh = Varchar(length=200)
    auth = Varchar(length=100)
    created_at = Timestamptz(default=TimestamptzNow())
    failures = Integer(default=0)


class Notification(Table):
    id = UUID(primary_key=True)
    staff = ForeignKey(references=Staff, index=True)
    event_key = Varchar(length=200)  # one notification per person and event
    kind = Varchar(length=32)
    title = Varchar(length=300)
    body = Text(default="")
    url = Varchar(length=500, default="/")
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)
    push_state = Varchar(length=10, default="pending")  # pending | sent | failed | muted
    push_attempts = Integer(default=0)
    seq = BigInt(default=0, index=True)


class OutboundMessage(Table):
    """A WeCom robot message waiting to be posted (retried with back-off)."""

    id = UUID(primary_key=True)
    site_id = UUID()
    event_key = Varchar(length=200, unique=True)
    body = Text()
    attempts = Integer(default=0)
    state = Varchar(length=10, default="pending")
    next_try_at = Timestamptz(default=TimestamptzNow())
