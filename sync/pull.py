"""GET /sync/pull: a full snapshot, or what changed in the caller's sites since a cursor.

The cursor names a position in the one change sequence (server.changes). The
committed position is read *before* the rows: every change at or below it has
committed (positions are taken under the counter's row lock, in commit order),
so nothing committed after this pull can carry a position the next pull skips.
A row committed meanwhile with a higher position may come twice; the phone
stores by id, so that is harmless.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from server.staff.services import site_ids_of
from server.changes import committed_position
from server.db import write_transaction
from server.notify.tables import Notification
from server.rectifications.tables import Rectification
from server.rounds.services import due_for
from server.rounds.schedule import grace
from server.rounds.tables import RoundTemplate, TemplateItem
from server.sites.tables import Checkpoint, Deletion, Site, Zone
from server.staff.tables import SUPERVISOR_ROLES, DeviceToken, Staff, StaffSite

CURSOR = re.compile(r"^v1\.(\d{1,18})$")
RECENT_VERIFIED_DAYS = 7  # a full snapshot carries verified rectifications of the last week
NOTIFICATION_LIMIT = 200


def now() -> datetime:
    return datetime.now(timezone.utc)


def make_cursor(position: int) -> str:
    return f"v1.{position}"


def read_cursor(since: str | None, committed: int) -> int | None:
    """The position in a cursor, or None for a full snapshot (absent, unreadable, or from the future)."""
    if not since:
        return None
    match = CURSOR.match(since.strip())
    if match is None:
        return None
    position = int(match.group(1))
    return position if position <= committed else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


async def _site_rows(site_ids: list[uuid.UUID], since: int | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    query = Site.select(Site.id, Site.name, Site.level, Site.timezone, Site.active).where(Site.id.is_in(site_ids))
    if since is not None:
        query = query.where(Site.seq > since)
    rows = await query
    live = [{"id": str(r["id"]), "name": r["name"], "level": r["level"], "timezone": r["timezone"]}
            for r in rows if r["active"]]
    gone = [{"type": "site", "id": str(r["id"])} for r in rows if not r["active"]]
    return live, gone


async def _zones(site_ids: list[uuid.UUID], since: int | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    query = Zone.select(Zone.id, Zone.site, Zone.name, Zone.sort_order, Zone.retired).where(Zone.site.is_in(site_ids))
    if since is not None:
        query = query.where(Zone.seq > since)
    rows = await query.order_by(Zone.sort_order)
    live = [{"id": str(r["id"]), "site_id": str(r["site"]), "name": r["name"], "sort_order": r["sort_order"]}
            for r in rows if not r["retired"]]
    return live, [{"type": "zone", "id": str(r["id"])} for r in rows if r["retired"]]


async def _checkpoints(site_ids: list[uuid.UUID], since: int | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    # Never the poster secrets: only their hashes, so the phone verifies a scan offline.
    query = Checkpoint.select(
        Checkpoint.id, Checkpoint.site, Checkpoint.zone, Checkpoint.name, Checkpoint.kind, Checkpoint.qr_hash,
        Checkpoint.code_hash, Checkpoint.lat, Checkpoint.lng, Checkpoint.sort_order, Checkpoint.retired,
    ).where(Checkpoint.site.is_in(site_ids))
    if since is not None:
        query = query.where(Checkpoint.seq > since)
    rows = await query.order_by(Checkpoint.sort_order)
    live = []
    for r in rows:
        if r["retired"]:
            continue
        row = {"id": str(r["id"]), "site_id": str(r["site"]), "zone_id": _id(r["zone"]), "name": r["name"],
               "kind": r["kind"], "qr_hash": r["qr_hash"], "code_hash": r["code_hash"], "sort_order": r["sort_order"]}
        if r["lat"] is not None and r["lng"] is not None:
            row.update(lat=r["lat"], lng=r["lng"])
        live.append(row)
    return live, [{"type": "checkpoint", "id": str(r["id"])} for r in rows if r["retired"]]


async def _templates(user: Staff, site_ids: list[uuid.UUID], since: int | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    query = RoundTemplate.select().where(RoundTemplate.site.is_in(site_ids))
    if user.role not in SUPERVISOR_ROLES:
        query = query.where(RoundTemplate.role == user.role)  # field staff get their own role's rounds
    if since is not None:
        query = query.where(RoundTemplate.seq > since)
    rows = await query.output(load_json=True)
    live_ids = [r["id"] for r in rows if r["active"]]
    items: dict[Any, list[dict[str, Any]]] = {i: [] for i in live_ids}
    if live_ids:
        for item in await TemplateItem.select(TemplateItem.template, TemplateItem.checkpoint, TemplateItem.checks).where(
                TemplateItem.template.is_in(live_ids)).order_by(TemplateItem.position).output(load_json=True):
            items[item["template"]].append({"checkpoint_id": str(item["checkpoint"]), "checks": item["checks"] or []})
    live = [{
        "id": str(r["id"]), "site_id": str(r["site"]), "code": r["code"], "role": r["role"], "kind": r["kind"],
        "name": r["name_zh"], "name_zh": r["name_zh"], "name_en": r["name_en"], "frequency": r["frequency"],
        "window_start": r["window_start"], "window_end": r["window_end"], "proof": r["proof"],
        "extrapolated": r["extrapolated"], "items": items[r["id"]],
    } for r in rows if r["active"]]
    return live, [{"type": "template", "id": str(r["id"])} for r in rows if not r["active"]]


async def _rectifications(site_ids: list[uuid.UUID], since: int | None) -> list[dict[str, Any]]:
    query = Rectification.select(
        Rectification.id, Rectification.site, Rectification.category, Rectification.severity, Rectification.state,
        Rectification.due_at, Rectification.assignee, Rectification.note, Rectification.photos_before,
        Rectification.photos_after, Rectification.photos_missing, Rectification.source, Rectification.resident_unit,
        Rectification.created_at, Rectification.updated_at,
    ).where(Rectification.site.is_in(site_ids))
    if since is not None:
        query = query.where(Rectification.seq > since)
    else:
        recent = now() - timedelta(days=RECENT_VERIFIED_DAYS)
        query = query.where((Rectification.state != "verified") | (Rectification.verified_at > recent))
    rows = await query.order_by(Rectification.created_at).output(load_json=True)
    return [{
        "id": str(r["id"]), "site_id": str(r["site"]), "category": r["category"], "severity": r["severity"],
        "state": r["state"], "due_at": _iso(r["due_at"]), "assignee_id": _id(r["assignee"]), "note": r["note"],
        "photos_before": r["photos_before"] or [], "photos_after": r["photos_after"] or [],
        "photos_missing": r["photos_missing"], "source": r["source"], "resident_unit": r["resident_unit"],
        "created_at": _iso(r["created_at"]), "updated_at": _iso(r["updated_at"]),
    } for r in rows]


async def _staff(site_ids: list[uuid.UUID], since: int | None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    member_ids = list({r["staff"] for r in await StaffSite.select(StaffSite.staff).where(StaffSite.site.is_in(site_ids))})
    if not member_ids:
        return [], []
    query = Staff.select(Staff.id, Staff.name, Staff.role, Staff.active).where(Staff.id.is_in(member_ids))
    if since is not None:
        query = query.where(Staff.seq > since)
    rows = await query.order_by(Staff.name)
    return ([{"id": str(r["id"]), "name": r["name"], "role": r["role"]} for r in rows if r["active"]],
            [{"type": "staff", "id": str(r["id"])} for r in rows if not r["active"]])


async def _notifications(user: Staff, since: int | None) -> list[dict[str, Any]]:
    query = Notification.select(
        Notification.id, Notification.kind, Notification.title, Notification.body, Notification.url,
        Notification.created_at, Notification.read_at,
    ).where(Notification.staff == user.id)
    if since is not None:
        query = query.where(Notification.seq > since)
    rows = await query.order_by(Notification.created_at, ascending=False).limit(NOTIFICATION_LIMIT)
    return [{"id": str(r["id"]), "kind": r["kind"], "title": r["title"], "body": r["body"], "url": r["url"],
             "created_at": _iso(r["created_at"]), "read": r["read_at"] is not None} for r in rows]


async def _deleted(site_ids: list[uuid.UUID], since: int) -> list[dict[str, str]]:
    rows = await Deletion.select(Deletion.record_type, Deletion.record_id).where(
        (Deletion.seq > since) & (Deletion.site.is_in(site_ids) | Deletion.site.is_null())
    ).order_by(Deletion.seq)
    return [{"type": r["record_type"], "id": r["record_id"]} for r in rows]


async def pull(user: Staff, since: str | None, token: DeviceToken | None = None, at: datetime | None = None) -> dict[str, Any]:
    """What the phone needs to work offline: everything (full) or the changes since `since`."""
    at = at or now()
    committed = await committed_position()  # first: see the module's docstring
    position = read_cursor(since, committed)
    fresh = await Staff.select(Staff.sites_seq, Staff.seq).where(Staff.id == user.id).first()
    if position is not None and fresh is not None and max(fresh["sites_seq"], fresh["seq"]) > position:
        position = None  # the person's sites or role changed: start again from a full picture
    site_ids = await site_ids_of(user.id)
    sites, gone_sites = await _site_rows(site_ids, position)
    active_ids = [i for i in site_ids if str(i) not in {g["id"] for g in gone_sites}]
    zones, gone_zones = await _zones(active_ids, position)
    checkpoints, gone_checkpoints = await _checkpoints(active_ids, position)
    templates, gone_templates = await _templates(user, active_ids, position)
    staff, gone_staff = await _staff(active_ids, position)
    deleted = gone_sites + gone_zones + gone_checkpoints + gone_templates + gone_staff
    if position is not None:
        deleted += await _deleted(site_ids, position)
    # A write per pull would queue every pull behind SQLite's one writer: a minute's precision will do.
    if token is not None and (token.last_sync_at is None or at - token.last_sync_at > timedelta(seconds=60)):
        async with write_transaction():
            await DeviceToken.update({DeviceToken.last_sync_at: at}).where(DeviceToken.id == token.id)
    return {
        "cursor": make_cursor(committed),
        "server_time": at.isoformat(),
        "full": position is None,
        "me": {"id": str(user.id), "name": user.name, "role": user.role, "site_ids": [str(s) for s in active_ids]},
        "sites": sites, "zones": zones, "checkpoints": checkpoints, "templates": templates,
        "due": await due_for(user, at),
        # The rule's grace, so the phone judges what it recorded offline as the server will (v1.1, additive).
        "settings": {"grace_minutes": int(grace().total_seconds() // 60)},
        "rectifications": await _rectifications(active_ids, position),
        "staff": staff,
        "notifications": await _notifications(user, position),
        "deleted": deleted,
    }
