"""Demo data: the level-2 site 阳光花园 with its zones, checkpoints, one user per role and templates."""

from __future__ import annotations

from typing import Any

from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
from server.sites.tables import Light, Site
from server.staff.services import create_staff
from server.staff.tables import Staff

DEMO_PASSWORD = "xunjian-demo"
DEMO_SITE = "阳光花园"
DEMO_USERS = [
    ("guard1", "张保安", "guard"),
    ("cleaner1", "李保洁", "cleaner"),
    ("gardener1", "王绿化", "gardener"),
    ("tech1", "赵维修", "technician"),
    ("supervisor1", "陈主管", "supervisor"),
    ("admin", "管理员", "admin"),
]

# (zone, checkpoint, kind, short code): fixed short codes so the demo posters can be typed from the README.
DEMO_CHECKPOINTS = [
    ("地下车库B1", "B1车库入口", "car_park", "B1GATE"),
    ("地下车库B1", "B1消防通道", "car_park", "B1FIRE"),
    ("主出入口", "主出入口岗亭", "gate", "GATE01"),
    ("设备房", "配电房", "equipment_room", "POWER1"),
    ("设备房", "水泵房", "equipment_room", "PUMP01"),
    ("1号楼", "1号楼大堂", "core", "BLD1LB"),
    ("2号楼", "2号楼楼道", "corridor", "BLD2CR"),
    ("3号楼", "3号楼天台", "rooftop", "BLD3RF"),
    ("4号楼", "4号楼大堂", "core", "BLD4LB"),
    ("5号楼", "5号楼垃圾收集点", "bin_point", "BLD5BN"),
    ("6号楼", "6号楼雨水井", "drain_well", "BLD6DW"),
    ("花园", "中心花园树群", "tree_group", "GRDN01"),
    ("花园", "花园污水井", "drain_well", "GRDNDW"),
    ("花园", "花园路灯", "light", "GRDNLT"),
    ("花园", "景观水池", "pool", "POOL01"),
]
DEMO_ZONES = ["地下车库B1", "1号楼", "2号楼", "3号楼", "4号楼", "5号楼", "6号楼", "花园", "主出入口", "设备房"]
DEMO_LIGHTS = {"地下车库B1": 40, "花园": 24, "主出入口": 6, "1号楼": 12, "2号楼": 12, "3号楼": 12}


def demo_secret(code: str) -> str:
    """The demo posters' QR secrets are predictable so the README and tests can print them."""
    return f"XJ-DEMO-{code}"


async def load_demo() -> dict[str, Any]:
    """Create the demo site and users once; running it again changes nothing."""
    site = await Site.objects().where(Site.name == DEMO_SITE).first()
    if site is not None:
        return {"site": site, "created": False}
    site = await create_site(DEMO_SITE, level=2, address="示例市示例区阳光路1号")
    zones = {}
    for order, name in enumerate(DEMO_ZONES):
        zones[name] = await add_zone(site.id, name, sort_order=order)
    for order, (zone, name, kind, code) in enumerate(DEMO_CHECKPOINTS):
        await add_checkpoint(site.id, name, kind, zone_id=zones[zone].id, sort_order=order,
                             secret=demo_secret(code), code=code)
    await Light.insert(*[Light(site=site.id, zone=zones[z].id, label=f"{z}照明", count=n)
                         for z, n in DEMO_LIGHTS.items()])
    await generate_templates(site.id)
    for username, name, role in DEMO_USERS:
        if not await Staff.exists().where(Staff.username == username):
            await create_staff(username, name, role, DEMO_PASSWORD, site_ids=[site.id])
    return {"site": site, "created": True}
