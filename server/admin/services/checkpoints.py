"""Zones and checkpoints: create, rename, reorder, retire (never delete), and new poster secrets."""

from __future__ import annotations

from typing import Any

from server import standard
from server.admin.access import admin_site
from server.admin.services import audit
from server.changes import next_position, record_deletion
from server.db import write_transaction
from server.errors import Conflict, Invalid, NotFound
from server.sites import services as site_services
from server.sites.services import CHECKPOINT_KINDS
from server.sites.tables import Checkpoint, Site, Zone
from server.staff.tables import Staff


async def listing(admin: Staff, site_id: Any, show_retired: bool = False) -> dict[str, Any]:
    """The site's zones in order, each with its checkpoints in order; checkpoints without a zone last."""
    site = await admin_site(admin, site_id)
    zones = await Zone.objects().where(Zone.site == site.id).order_by(Zone.sort_order).order_by(Zone.name)
    checkpoints = await Checkpoint.objects().where(Checkpoint.site == site.id).order_by(
        Checkpoint.sort_order).order_by(Checkpoint.name)
    if not show_retired:
        zones = [z for z in zones if not z.retired]
        checkpoints = [c for c in checkpoints if not c.retired]
    groups = [{"zone": z, "checkpoints": [c for c in checkpoints if c.zone == z.id]} for z in zones]
    zone_ids = {z.id for z in zones}
    loose = [c for c in checkpoints if c.zone not in zone_ids]
    return {"site": site, "groups": groups, "loose": loose, "zones": [z for z in zones if not z.retired],
            "kinds": CHECKPOINT_KINDS}


async def _zone(admin: Staff, zone_id: Any) -> tuple[Zone, Site]:
    zone = await Zone.objects().where(Zone.id == zone_id).first()
    if zone is None:
        raise NotFound("没有这个区域 / no such zone")
    return zone, await admin_site(admin, zone.site)


async def zone_of(admin: Staff, zone_id: Any) -> Zone:
    """A zone of one of this admin's sites (404 otherwise): check it before judging a form about it."""
    return (await _zone(admin, zone_id))[0]


async def _checkpoint(admin: Staff, cp_id: Any) -> tuple[Checkpoint, Site]:
    cp = await Checkpoint.objects().where(Checkpoint.id == cp_id).first()
    if cp is None:
        raise NotFound("没有这个点位 / no such checkpoint")
    return cp, await admin_site(admin, cp.site)


async def checkpoint(admin: Staff, cp_id: Any) -> dict[str, Any]:
    cp, site = await _checkpoint(admin, cp_id)
    zones = await Zone.objects().where((Zone.site == site.id) & (Zone.retired == False)).order_by(  # noqa: E712
        Zone.sort_order)
    return {"checkpoint": cp, "site": site, "zones": zones, "kinds": CHECKPOINT_KINDS,
            "printable": site_services.poster_secrets(cp) is not None}


async def _check_zone_name(site_id: Any, name: str, except_id: Any = None) -> None:
    clash = Zone.exists().where((Zone.site == site_id) & (Zone.name == name) & (Zone.retired == False))  # noqa: E712
    if except_id is not None:
        clash = clash.where(Zone.id != except_id)
    if await clash:
        raise Invalid(f"区域“{name}”已存在 / zone “{name}” already exists", field="name")


async def add_zone(admin: Staff, site_id: Any, name: str) -> Zone:
    site = await admin_site(admin, site_id)
    if not name:
        raise Invalid("请填写区域名称 / zone name is required", field="name")
    await _check_zone_name(site.id, name)
    async with write_transaction():
        last = await Zone.select(Zone.sort_order).where(Zone.site == site.id).order_by(
            Zone.sort_order, ascending=False).first()
        zone = await site_services.add_zone(site.id, name, sort_order=(last["sort_order"] + 1) if last else 0)
        await audit.record(admin, "zone.create", site.id, name)
    return zone


async def rename_zone(admin: Staff, zone_id: Any, name: str) -> Zone:
    zone, site = await _zone(admin, zone_id)
    if not name:
        raise Invalid("请填写区域名称 / zone name is required", field="name")
    if name == zone.name:
        return zone
    await _check_zone_name(site.id, name, except_id=zone.id)
    async with write_transaction():
        await Zone.update({Zone.name: name, Zone.seq: await next_position()}).where(Zone.id == zone.id)
        await audit.record(admin, "zone.rename", site.id, name, {"from": zone.name, "to": name})
    return zone


async def _swap(rows: list[Any], row_id: Any, direction: str, table: Any) -> bool:
    """Renumber `rows` 0..n-1 with `row_id` moved one place up or down; every moved row takes a new seq."""
    if direction not in ("up", "down"):
        raise Invalid("方向只能是 up 或 down / direction is up or down", field="direction")
    index = next((i for i, r in enumerate(rows) if r.id == row_id), None)
    if index is None:
        return False
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rows):
        return False
    rows[index], rows[other] = rows[other], rows[index]
    for order, row in enumerate(rows):
        if row.sort_order != order or row.id in (rows[index].id, rows[other].id):
            await table.update({table.sort_order: order, table.seq: await next_position()}).where(table.id == row.id)
    return True


async def move_zone(admin: Staff, zone_id: Any, direction: str) -> Zone:
    zone, site = await _zone(admin, zone_id)
    async with write_transaction():
        zones = await Zone.objects().where((Zone.site == site.id) & (Zone.retired == False)).order_by(  # noqa: E712
            Zone.sort_order).order_by(Zone.name)
        if await _swap(zones, zone.id, direction, Zone):
            await audit.record(admin, "zone.move", site.id, zone.name, {"direction": direction})
    return zone


async def set_zone_retired(admin: Staff, zone_id: Any, retired: bool) -> Zone:
    """Retire (or bring back) a zone; one that still holds active checkpoints is refused."""
    zone, site = await _zone(admin, zone_id)
    if retired and await Checkpoint.exists().where(
            (Checkpoint.zone == zone.id) & (Checkpoint.retired == False)):  # noqa: E712
        raise Conflict("请先停用或移走该区域的点位 / retire or move this zone's checkpoints first", code="zone_in_use")
    if not retired:
        await _check_zone_name(site.id, zone.name, except_id=zone.id)
    async with write_transaction():
        seq = await next_position()
        await Zone.update({Zone.retired: retired, Zone.seq: seq}).where(Zone.id == zone.id)
        if retired:
            await record_deletion("zone", zone.id, site.id, seq)
        await audit.record(admin, "zone.retire" if retired else "zone.restore", site.id, zone.name)
    return zone


def _check_kind(kind: str) -> str:
    if kind not in CHECKPOINT_KINDS:
        raise Invalid(f"未知的点位类型 / unknown checkpoint kind: {kind}", field="kind")
    return kind


async def _check_zone_of(site_id: Any, zone_id: Any) -> None:
    if zone_id is not None and not await Zone.exists().where(
            (Zone.id == zone_id) & (Zone.site == site_id) & (Zone.retired == False)):  # noqa: E712
        raise Invalid("区域不属于该小区 / that zone is not in this site", field="zone")


async def add_checkpoint(admin: Staff, site_id: Any, name: str, kind: str, zone_id: Any = None,
                         lat: float | None = None, lng: float | None = None) -> Checkpoint:
    """A checkpoint with fresh poster secrets, placed at once in the templates that cover its kind."""
    site = await admin_site(admin, site_id)
    if not name:
        raise Invalid("请填写点位名称 / checkpoint name is required", field="name")
    _check_kind(kind)
    await _check_zone_of(site.id, zone_id)
    async with write_transaction():
        last = await Checkpoint.select(Checkpoint.sort_order).where(Checkpoint.site == site.id).order_by(
            Checkpoint.sort_order, ascending=False).first()
        cp, _secret, _code = await site_services.add_checkpoint(
            site.id, name, kind, zone_id=zone_id, lat=lat, lng=lng,
            sort_order=(last["sort_order"] + 1) if last else 0)
        placed = await site_services.place_checkpoint(cp, site.level)
        await audit.record(admin, "checkpoint.create", site.id, name,
                           {"kind": kind, "templates": [t.code for t in placed]})
    return cp


async def update_checkpoint(admin: Staff, cp_id: Any, name: str, kind: str, zone_id: Any,
                            lat: float | None, lng: float | None) -> Checkpoint:
    """Rename, move to another zone, change kind or position; a new kind moves it between templates."""
    cp, site = await _checkpoint(admin, cp_id)
    if not name:
        raise Invalid("请填写点位名称 / checkpoint name is required", field="name")
    _check_kind(kind)
    await _check_zone_of(site.id, zone_id)
    changes = {key: [old, new] for key, old, new in (
        ("name", cp.name, name), ("kind", cp.kind, kind), ("zone", str(cp.zone or ""), str(zone_id or "")),
        ("lat", cp.lat, lat), ("lng", cp.lng, lng)) if old != new}
    if not changes:
        return cp
    async with write_transaction():
        await Checkpoint.update({
            Checkpoint.name: name, Checkpoint.kind: kind, Checkpoint.zone: zone_id, Checkpoint.lat: lat,
            Checkpoint.lng: lng, Checkpoint.seq: await next_position(),
        }).where(Checkpoint.id == cp.id)
        if kind != cp.kind and not cp.retired:
            # Leave the templates it was in because of its old kind; keep the ones an admin chose by hand.
            only_old_kind = [code for code in _standard_codes()
                             if site_services.checks_for_kind(site.level, code, cp.kind) is not None
                             and site_services.checks_for_kind(site.level, code, kind) is None]
            await site_services.unplace_checkpoint(cp.id, only_old_kind)
            cp.kind = kind
            await site_services.place_checkpoint(cp, site.level)
        await audit.record(admin, "checkpoint.update", site.id, name, changes)
    cp.name, cp.kind, cp.zone, cp.lat, cp.lng = name, kind, zone_id, lat, lng
    return cp


def _standard_codes() -> list[str]:
    return [row["code"] for row in standard.round_rows()]


async def move_checkpoint(admin: Staff, cp_id: Any, direction: str) -> Checkpoint:
    """Move a checkpoint one place up or down among the active checkpoints of its zone."""
    cp, site = await _checkpoint(admin, cp_id)
    async with write_transaction():
        zone_match = Checkpoint.zone.is_null() if cp.zone is None else Checkpoint.zone == cp.zone
        rows = await Checkpoint.objects().where(
            (Checkpoint.site == site.id) & zone_match & (Checkpoint.retired == False)  # noqa: E712
        ).order_by(Checkpoint.sort_order).order_by(Checkpoint.name)
        if await _swap(rows, cp.id, direction, Checkpoint):
            await audit.record(admin, "checkpoint.move", site.id, cp.name, {"direction": direction})
    return cp


async def set_checkpoint_retired(admin: Staff, cp_id: Any, retired: bool) -> Checkpoint:
    """Retire a checkpoint (its visits stay in the log; it leaves the templates), or bring it back."""
    cp, site = await _checkpoint(admin, cp_id)
    if cp.retired == retired:
        return cp
    async with write_transaction():
        seq = await next_position()
        await Checkpoint.update({Checkpoint.retired: retired, Checkpoint.seq: seq}).where(Checkpoint.id == cp.id)
        if retired:
            await record_deletion("checkpoint", cp.id, site.id, seq)
            await site_services.unplace_checkpoint(cp.id)
        else:
            await site_services.place_checkpoint(cp, site.level)
        await audit.record(admin, "checkpoint.retire" if retired else "checkpoint.restore", site.id, cp.name)
    return cp


async def regenerate_poster(admin: Staff, cp_id: Any) -> Checkpoint:
    """New QR secret and short code; a scan of the old poster no longer verifies."""
    cp, site = await _checkpoint(admin, cp_id)
    async with write_transaction():
        await site_services.regenerate_poster(cp.id)
        # Only the fact is audited: the secret and code must never be in the trail.
        await audit.record(admin, "checkpoint.new_poster", site.id, cp.name)
    return cp
