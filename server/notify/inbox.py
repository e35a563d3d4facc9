"""The in-app inbox: every notification is a row here first, whatever happens to its push.

Web Push through Google's service does not reach phones in mainland China, so
the inbox (pulled by the phone in /sync/pull, listed in the console) is the
delivery people can rely on; push is the fast path on top of it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from server import i18n
from server.bulk import column_list
from server.changes import next_position
from server.db import write_transaction
from server.errors import Invalid, NotFound
from server.notify import dispatch
from server.notify.messages import KINDS
from server.notify.tables import Notification
from server.settings import get_settings
from server.staff.tables import SUPERVISOR_ROLES, Staff, StaffSite

MUTABLE_KINDS = tuple(KINDS)
MAX_READ_IDS = 500  # one request's worth; more would overrun the database's parameter limit


def now() -> datetime:
    return datetime.now(timezone.utc)


def json_value(value: Any, default: Any) -> Any:
    """A JSON column's value: Piccolo hands some queries the text, others the decoded value."""
    if isinstance(value, (str, bytes)):
        return json.loads(value) if value else default
    return default if value is None else value


def language_of(staff: Staff) -> str:
    return i18n.normalise(staff.language or get_settings().default_language)


def dedup_key(staff_id: Any, event_key: str) -> str:
    return f"{staff_id}|{event_key}"


@dataclass
class Draft:
    """One notification for one person, not yet stored."""

    staff: Staff
    kind: str
    event_key: str
    title: str
    body: str
    url: str
    data: dict[str, Any] = field(default_factory=dict)
    hold_until: datetime | None = None  # a digest collects findings until then


_SUPERVISORS = (
    f'SELECT {column_list(Staff, "s")} FROM "{Staff._meta.tablename}" s JOIN "{StaffSite._meta.tablename}" m '
    f'ON m."staff" = s."id" WHERE m."site" = {{}} AND s."role" IN ({", ".join(map(repr, SUPERVISOR_ROLES))}) '
    'AND s."active" ORDER BY s."username"'
)


async def supervisors_of(site_id: Any, exclude: Iterable[Any] = ()) -> list[Staff]:
    """The active supervisors and admins of a site (the people answerable for it).

    One query written out: a sync push with findings asks this once per push, and Piccolo's
    two queries took 3 ms to build and read.
    """
    skip = {str(x) for x in exclude if x is not None}
    rows = await Staff.raw(_SUPERVISORS, site_id)
    return [Staff(_exists_in_db=True, **row) for row in rows if str(row["id"]) not in skip]


async def active_staff(staff_id: Any) -> Staff | None:
    if staff_id is None:
        return None
    return await Staff.objects().where((Staff.id == staff_id) & (Staff.active == True)).first()  # noqa: E712


def _row(draft: Draft, seq: int, at: datetime) -> Notification:
    muted = draft.kind in json_value(draft.staff.muted, [])
    if draft.hold_until is not None:
        state, next_at = "held", draft.hold_until
    else:
        state, next_at = ("muted" if muted else "pending"), at
    return Notification(
        id=uuid.uuid4(), staff=draft.staff.id, event_key=draft.event_key,
        dedup_key=dedup_key(draft.staff.id, draft.event_key), kind=draft.kind, title=draft.title,
        body=draft.body, url=draft.url, created_at=at, push_state=state, push_next_at=next_at,
        data=draft.data, seq=seq,
    )


async def store(drafts: list[Draft]) -> list[uuid.UUID]:
    """Store each draft once per person and event; returns the ids of the rows that are new.

    The unique dedup key makes a second call with the same event a no-op, even
    from another process at the same moment (ON CONFLICT DO NOTHING).
    """
    if not drafts:
        return []
    # The scheduler offers the same events every period: a read first keeps the
    # common case (all already stored) out of the write lock and the change sequence.
    keys = [dedup_key(d.staff.id, d.event_key) for d in drafts]
    existing = {r["dedup_key"] for r in await Notification.select(Notification.dedup_key).where(
        Notification.dedup_key.is_in(keys))}
    drafts = [d for d, key in zip(drafts, keys) if key not in existing]
    if not drafts:
        return []
    at = now()
    async with write_transaction():
        seq = await next_position()
        created = []
        for draft in drafts:
            rows = await Notification.insert(_row(draft, seq, at)).on_conflict(action="DO NOTHING").returning(
                Notification.id)
            created.extend(r["id"] for r in rows)
    if created:
        dispatch.wake()
    return created


async def list_for(staff_id: Any, limit: int = 50) -> list[Notification]:
    """A person's newest notifications first."""
    return await Notification.objects().where(Notification.staff == staff_id).order_by(
        Notification.created_at, ascending=False).limit(limit)


async def unread_count(staff_id: Any) -> int:
    return await Notification.count().where((Notification.staff == staff_id) & Notification.read_at.is_null())


async def mark_read(staff_id: Any, ids: Iterable[Any] | None = None) -> int:
    """Mark some (or, without ids, all) of a person's notifications read; the phone learns it in its next pull."""
    where = (Notification.staff == staff_id) & Notification.read_at.is_null()
    if ids is not None:
        ids = list(ids)
        if len(ids) > MAX_READ_IDS:
            raise Invalid(f"一次最多 {MAX_READ_IDS} 条 / at most {MAX_READ_IDS} ids at once")
        try:
            wanted = [uuid.UUID(str(i)) for i in ids]
        except ValueError as exc:
            raise Invalid("通知编号无效 / not a notification id") from exc
        if not wanted:
            return 0
        where = where & Notification.id.is_in(wanted)
    async with write_transaction():
        seq = await next_position()
        rows = await Notification.update({Notification.read_at: now(), Notification.seq: seq}).where(
            where).returning(Notification.id)
    return len(rows)


async def open_notification(staff_id: Any, notification_id: Any) -> str:
    """Mark one notification read and return where it leads (404 for someone else's)."""
    try:
        wanted = uuid.UUID(str(notification_id))
    except ValueError as exc:
        raise NotFound("没有这条通知 / no such notification") from exc
    row = await Notification.objects().where((Notification.id == wanted) & (Notification.staff == staff_id)).first()
    if row is None:
        raise NotFound("没有这条通知 / no such notification")
    if row.read_at is None:
        await mark_read(staff_id, [wanted])
    return row.url


def as_pull(row: Notification | dict[str, Any]) -> dict[str, Any]:
    """A notification in shared/SYNC.md's `notifications[]` shape."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    created = get("created_at")
    return {
        "id": str(get("id")), "kind": get("kind"), "title": get("title"), "body": get("body"),
        "url": get("url"), "created_at": created.isoformat() if created else None,
        "read": get("read_at") is not None,
    }


async def pull_rows(staff_id: Any, since_seq: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """A person's notifications for /sync/pull: the newest `limit`, or those changed after `since_seq`."""
    query = Notification.select(
        Notification.id, Notification.kind, Notification.title, Notification.body, Notification.url,
        Notification.created_at, Notification.read_at,
    ).where(Notification.staff == staff_id)
    if since_seq is not None:
        query = query.where(Notification.seq > since_seq)
    rows = await query.order_by(Notification.created_at, ascending=False).limit(limit)
    return [as_pull(r) for r in rows]


async def set_muted(staff_id: Any, kinds: Iterable[str]) -> list[str]:
    """The kinds this person no longer wants pushed (they still reach the inbox)."""
    chosen = sorted({k for k in kinds})
    unknown = [k for k in chosen if k not in MUTABLE_KINDS]
    if unknown:
        raise Invalid(f"未知的通知类别 / unknown notification kind: {', '.join(unknown)}")
    async with write_transaction():
        await Staff.update({Staff.muted: chosen}).where(Staff.id == staff_id)
    return chosen
