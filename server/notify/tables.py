"""Web Push subscriptions, the in-app notification inbox and the WeCom outbox."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
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
    event_key = Varchar(length=200)  # what happened, e.g. "emergency:<rect id>"
    # "<staff id>|<event_key>": the unique constraint that makes each event reach
    # each person once, however often a hook or the scheduler runs (Piccolo has
    # no composite unique constraint, so the pair is one column).
    dedup_key = Varchar(length=250, unique=True)
    kind = Varchar(length=32)
    title = Varchar(length=300)
    body = Text(default="")
    url = Varchar(length=500, default="/")
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)
    push_state = Varchar(length=10, default="pending", index=True)  # held | pending | sending | sent | failed | muted | skipped
    push_attempts = Integer(default=0)
    push_next_at = Timestamptz(null=True, default=None)  # next try, or the end of a claim or a digest's hold
    push_done = JSON(default=[])  # subscription ids already reached, so a retry skips them
    data = JSON(default={})  # what the text was made from (a digest's count per category)
    seq = BigInt(default=0, index=True)


class DigestItem(Table):
    """A normal finding in a person's digest.

    One row per person and rectification, so a digest collecting a long offline shift's
    findings is not rewritten whole by every push, and each finding reaches each person's
    digests once however often its hook runs (the unique key).
    """

    notification = ForeignKey(references=Notification, index=True)
    dedup_key = Varchar(length=100, unique=True)  # "<staff id>|<rectification id>"


class OutboundMessage(Table):
    """A WeCom robot message waiting to be posted (retried with back-off)."""

    id = UUID(primary_key=True)
    site_id = UUID()
    event_key = Varchar(length=200, unique=True)
    body = Text()
    attempts = Integer(default=0)
    state = Varchar(length=10, default="pending")
    next_try_at = Timestamptz(default=TimestamptzNow())
    last_error = Varchar(length=300, default="")  # never holds the webhook URL
