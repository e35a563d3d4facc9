"""The audit trail of administration: who changed what, when; secrets never enter it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from server.admin.access import admin_site_ids, admin_sites
from server.errors import Invalid, NotFound
from server.sites.tables import AuditEntry
from server.staff.tables import Staff

# Keys whose values are secrets: if a caller passes one by mistake, only the
# fact of a change is kept.
SECRET_WORDS = ("password", "secret", "webhook", "token", "qr", "short_code")
PAGE_SIZE = 100


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if any(word in key.lower() for word in SECRET_WORDS) and not isinstance(value, bool):
            clean[key] = "changed"
        elif isinstance(value, dict):
            clean[key] = _scrub(value)
        else:
            clean[key] = value
    return clean


async def record(actor: Staff, action: str, site: Any = None, target: str = "",
                 detail: dict[str, Any] | None = None) -> None:
    """One audit entry; call inside the write transaction of the change so both commit or neither."""
    await AuditEntry.insert(AuditEntry(
        actor=actor.username, site=site, action=action, target=target[:200], detail=_scrub(detail or {}),
    ))


@dataclass
class AuditFilter:
    site_id: Any = None
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1


def parse_day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise Invalid("日期格式应为 YYYY-MM-DD / dates are YYYY-MM-DD") from None


async def entries(admin: Staff, flt: AuditFilter) -> dict[str, Any]:
    """Entries of the admin's sites (and site-less ones such as staff changes), newest first."""
    site_ids = await admin_site_ids(admin)
    if flt.site_id is not None:
        if flt.site_id not in site_ids:
            raise NotFound("没有这个小区 / no such site")
        visible = AuditEntry.site == flt.site_id
    else:
        visible = AuditEntry.site.is_null()
        if site_ids:
            visible = visible | AuditEntry.site.is_in(list(site_ids))
    where = visible
    if flt.actor:
        where = where & (AuditEntry.actor == flt.actor)
    if flt.action:
        where = where & AuditEntry.action.like(f"{flt.action}%")
    # Days are taken in China time (UTC+8), the day people mean when they filter.
    tz = timezone(timedelta(hours=8))
    if flt.since:
        where = where & (AuditEntry.at >= datetime.combine(flt.since, time(), tz))
    if flt.until:
        where = where & (AuditEntry.at < datetime.combine(flt.until + timedelta(days=1), time(), tz))
    page = max(flt.page, 1)
    rows = await AuditEntry.select(
        *AuditEntry.all_columns(), AuditEntry.site.name.as_alias("site_name"),
    ).where(where).order_by(AuditEntry.at, ascending=False).limit(PAGE_SIZE + 1).offset(
        (page - 1) * PAGE_SIZE).output(load_json=True)
    actors = await AuditEntry.select(AuditEntry.actor).where(visible).distinct().order_by(AuditEntry.actor)
    actions = await AuditEntry.select(AuditEntry.action).where(visible).distinct().order_by(AuditEntry.action)
    return {
        "rows": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "page": page,
        "actors": [a["actor"] for a in actors], "actions": [a["action"] for a in actions],
        "sites": await admin_sites(admin),
    }
