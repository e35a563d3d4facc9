"""The lighting register: public lights per zone, as a count or one row per light.

Its active total is the denominator of the lighting intact rate.
"""

from __future__ import annotations

from typing import Any

from server.admin.access import admin_site
from server.admin.services import audit
from server.db import write_transaction
from server.errors import Invalid, NotFound
from server.sites.tables import Light, Zone
from server.staff.tables import Staff

MAX_COUNT = 100_000


async def register(admin: Staff, site_id: Any) -> dict[str, Any]:
    site = await admin_site(admin, site_id)
    zones = await Zone.objects().where((Zone.site == site.id) & (Zone.retired == False)).order_by(  # noqa: E712
        Zone.sort_order)
    lights = await Light.objects().where(Light.site == site.id).order_by(Light.label)
    names = {z.id: z.name for z in await Zone.objects().where(Zone.site == site.id)}
    active = [light for light in lights if not light.retired]
    by_zone: dict[str, int] = {}
    for light in active:
        key = names.get(light.zone, "")
        by_zone[key] = by_zone.get(key, 0) + light.count
    return {"site": site, "zones": zones, "lights": lights, "zone_names": names,
            "total": sum(light.count for light in active), "by_zone": by_zone}


def _check(label: str, count: int) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise Invalid(f"数量必须在1到{MAX_COUNT}之间 / count must be between 1 and {MAX_COUNT}", field="count")
    if len(label) > 200:
        raise Invalid("名称太长 / label too long", field="label")


async def _zone_ok(site_id: Any, zone_id: Any) -> None:
    if zone_id is not None and not await Zone.exists().where((Zone.id == zone_id) & (Zone.site == site_id)):
        raise Invalid("区域不属于该小区 / that zone is not in this site", field="zone")


async def add(admin: Staff, site_id: Any, zone_id: Any, label: str, count: int) -> Light:
    site = await admin_site(admin, site_id)
    _check(label, count)
    await _zone_ok(site.id, zone_id)
    async with write_transaction():
        light = Light(site=site.id, zone=zone_id, label=label, count=count)
        await light.save()
        await audit.record(admin, "light.create", site.id, label, {"count": count})
    return light


async def _light(admin: Staff, light_id: Any) -> tuple[Light, Any]:
    light = await Light.objects().where(Light.id == light_id).first()
    if light is None:
        raise NotFound("没有这条照明记录 / no such light")
    return light, await admin_site(admin, light.site)


async def light_of(admin: Staff, light_id: Any) -> Light:
    """A light of one of this admin's sites (404 otherwise): check it before judging a form about it."""
    return (await _light(admin, light_id))[0]


async def update(admin: Staff, light_id: Any, zone_id: Any, label: str, count: int) -> Light:
    light, site = await _light(admin, light_id)
    _check(label, count)
    await _zone_ok(site.id, zone_id)
    async with write_transaction():
        await Light.update({Light.zone: zone_id, Light.label: label, Light.count: count}).where(Light.id == light.id)
        await audit.record(admin, "light.update", site.id, label,
                           {"count": [light.count, count]} if count != light.count else {})
    return light


async def set_retired(admin: Staff, light_id: Any, retired: bool) -> Light:
    light, site = await _light(admin, light_id)
    async with write_transaction():
        await Light.update({Light.retired: retired}).where(Light.id == light.id)
        await audit.record(admin, "light.retire" if retired else "light.restore", site.id, light.label,
                           {"count": light.count})
    return light
