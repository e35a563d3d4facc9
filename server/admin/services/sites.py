"""Sites as admins set them up: details, the WeCom robot, service level, and the per-site figures."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server import standard
from server.admin.access import admin_site, admin_sites
from server.admin.services import audit
from server.changes import next_position, record_deletion
from server.db import write_transaction
from server.errors import Invalid
from server.rounds.tables import RoundTemplate
from server.sites import services as site_services
from server.sites.tables import Checkpoint, Site, SiteFigure
from server.staff.tables import Staff, StaffSite

MAX_SLA_MINUTES = 366 * 24 * 60


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"未知的时区 / unknown time zone: {name}", field="timezone") from None
    return name


def check_level(level: int) -> int:
    if level not in standard.LEVELS:
        raise Invalid("服务等级必须是一级、二级或三级 / level must be 1, 2 or 3", field="level")
    return level


def mask_webhook(url: str) -> str:
    """Enough of a robot URL to recognise it, never enough to use it."""
    if not url:
        return ""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}/…{url[-4:]}" if len(url) > 12 else "…"


def check_webhook(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc or len(url) > 1000:
        raise Invalid("群机器人地址必须是 https:// 开头的完整网址 / the robot URL must be a full https:// address",
                      field="wecom_webhook")
    return url


async def overview(admin: Staff) -> list[dict[str, Any]]:
    """The admin's sites with a few counts for the list page."""
    out = []
    for site in await admin_sites(admin):
        out.append({
            "site": site,
            "checkpoints": await Checkpoint.count().where(
                (Checkpoint.site == site.id) & (Checkpoint.retired == False)),  # noqa: E712
            "templates": await RoundTemplate.count().where(
                (RoundTemplate.site == site.id) & (RoundTemplate.active == True)),  # noqa: E712
            "staff": await StaffSite.count().where(StaffSite.site == site.id),
        })
    return out


async def create(admin: Staff, name: str, level: int, timezone: str, address: str) -> Site:
    """A new site with its level's figures and round templates; its creator becomes a member."""
    check_level(level)
    check_timezone(timezone)
    async with write_transaction():
        site = await site_services.create_site(name, level, timezone=timezone, address=address)
        await StaffSite.insert(StaffSite(staff=admin.id, site=site.id))
        # The admin's own site list changed: their next pull must be a full snapshot.
        seq = await next_position()
        await Staff.update({Staff.sites_seq: seq, Staff.seq: seq}).where(Staff.id == admin.id)
        templates = await site_services.generate_templates(site.id)
        await audit.record(admin, "site.create", site.id, site.name,
                           {"level": level, "timezone": timezone, "templates": len(templates)})
    return site


async def update_details(admin: Staff, site_id: Any, name: str, address: str, timezone: str,
                         webhook: str, clear_webhook: bool) -> Site:
    """Name, address, time zone and the WeCom robot URL (left unchanged when the field is left empty)."""
    site = await admin_site(admin, site_id)
    if not name:
        raise Invalid("请填写小区名称 / name is required", field="name")
    check_timezone(timezone)
    changes: dict[str, Any] = {}
    values: dict[Any, Any] = {}
    for column, old, new in ((Site.name, site.name, name), (Site.address, site.address, address),
                             (Site.timezone, site.timezone, timezone)):
        if old != new:
            values[column] = new
            changes[column._meta.name] = [old, new]
    if clear_webhook and site.wecom_webhook:
        values[Site.wecom_webhook] = ""
        changes["wecom_webhook"] = "cleared"
    elif webhook and webhook != site.wecom_webhook:
        values[Site.wecom_webhook] = check_webhook(webhook)
        changes["wecom_webhook"] = "changed"
    if not values:
        return site
    async with write_transaction():
        values[Site.seq] = await next_position()
        await Site.update(values).where(Site.id == site.id)
        await audit.record(admin, "site.update", site.id, name, changes)
    return await site_services.get_site(site.id)


def _figure_names() -> dict[str, dict[str, Any]]:
    rows = {d["code"]: d for d in standard.standard()["deadlines"]}
    rows.update({r["code"]: r for r in standard.standard()["rates"]})
    return rows


async def page(admin: Staff, site_id: Any) -> dict[str, Any]:
    """A site's settings page: details, the robot URL masked, the figures beside their defaults."""
    site = await admin_site(admin, site_id)
    return {"site": site, "figures": await figures(site.id), "webhook_masked": mask_webhook(site.wecom_webhook)}


async def figures(site_id: Any) -> list[dict[str, Any]]:
    """The site's figures beside the standard's defaults, in the standard's order."""
    names = _figure_names()
    order = list(names)
    rows = await SiteFigure.objects().where(SiteFigure.site == site_id)
    rows.sort(key=lambda f: order.index(f.code) if f.code in order else len(order))
    return [{"figure": f, "zh": names.get(f.code, {}).get("zh", f.code), "en": names.get(f.code, {}).get("en", f.code),
             "same_day": bool(names.get(f.code, {}).get("same_day")), "custom": f.value != f.default_value}
            for f in rows]


def _parse_figure(kind: str, raw: str, code: str) -> float:
    raw = (raw or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"{code}: 请填写数字 / enter a number", field=code) from None
    limit = 100.0 if kind == "rate" else float(MAX_SLA_MINUTES)
    if value != value or not 0 <= value <= limit:
        raise Invalid(f"{code}: 数值必须在0到{limit:g}之间 / must be between 0 and {limit:g}", field=code)
    return value


async def update_figures(admin: Staff, site_id: Any, posted: dict[str, str]) -> int:
    """Save the figures the form changed; all are checked before any is written."""
    site = await admin_site(admin, site_id)
    rows = await SiteFigure.objects().where(SiteFigure.site == site.id)
    changed = []
    for f in rows:
        if f.code not in posted:
            continue
        value = _parse_figure(f.kind, posted[f.code], f.code)
        if value != f.value:
            changed.append((f, value))
    if not changed:
        return 0
    async with write_transaction():
        for f, value in changed:
            await SiteFigure.update({SiteFigure.value: value}).where(SiteFigure.id == f.id)
        await audit.record(admin, "site.figures", site.id, site.name,
                           {f.code: [f.value, value] for f, value in changed})
    return len(changed)


async def change_level(admin: Staff, site_id: Any, level: int, regenerate: bool) -> Site:
    """Set the level; with `regenerate`, figures go back to the level's defaults and the templates are
    made afresh. Old templates are retired, not deleted: rounds and slots already recorded keep them."""
    site = await admin_site(admin, site_id)
    check_level(level)
    if level == site.level and not regenerate:
        return site
    defaults = {f["code"]: f for f in standard.default_figures(level)}
    async with write_transaction():
        seq = await next_position()
        await Site.update({Site.level: level, Site.seq: seq}).where(Site.id == site.id)
        existing = {f.code: f for f in await SiteFigure.objects().where(SiteFigure.site == site.id)}
        for code, d in defaults.items():
            f = existing.get(code)
            if f is None:
                await SiteFigure.insert(SiteFigure(site=site.id, code=code, kind=d["kind"], value=d["value"],
                                                   default_value=d["value"], extrapolated=d["extrapolated"]))
                continue
            # The default beside the site's value always follows the level; the value itself
            # only when the admin asked to regenerate (a contract may have agreed it).
            values: dict[Any, Any] = {SiteFigure.default_value: d["value"], SiteFigure.extrapolated: d["extrapolated"]}
            if regenerate:
                values[SiteFigure.value] = d["value"]
            await SiteFigure.update(values).where(SiteFigure.id == f.id)
        retired = 0
        if regenerate:
            old = await RoundTemplate.select(RoundTemplate.id).where(
                (RoundTemplate.site == site.id) & (RoundTemplate.active == True))  # noqa: E712
            for row in old:
                seq = await next_position()
                await RoundTemplate.update({RoundTemplate.active: False, RoundTemplate.seq: seq}).where(
                    RoundTemplate.id == row["id"])
                await record_deletion("template", row["id"], site.id, seq)
            retired = len(old)
            await site_services.generate_templates(site.id)
        await audit.record(admin, "site.level", site.id, site.name,
                           {"from": site.level, "to": level, "regenerated": regenerate, "templates_retired": retired})
    return await site_services.get_site(site.id)
