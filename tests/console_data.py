"""Building records for the console tests through the real services (rounds, findings, transitions),
with chosen corrected times, on sites of their own."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from server.console.access import SiteClock
from server.rectifications import services as rects
from server.rounds import services as rounds
from server.rounds.tables import Round, RoundTemplate
from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
from server.sites.tables import Light, Site
from server.staff.services import create_staff

PASSWORD = "xunjian-demo"
PHOTO = "ab" * 32  # a photo the phone has not uploaded: enough for a fix, which needs one


async def new_site(level: int = 2, created_at: datetime | None = None, lights: int = 0) -> dict[str, Any]:
    """A site with one person per role (usernames <role>-<tag>), its templates, and optionally lights."""
    tag = uuid.uuid4().hex[:8]
    site = await create_site(f"控制台测试-{tag}", level=level)
    if created_at is not None:
        # Slots are only made for windows after the site existed: history needs an older site.
        await Site.update({Site.created_at: created_at}).where(Site.id == site.id)
        site.created_at = created_at
    zone = await add_zone(site.id, "1号楼")
    checkpoints = {}
    for kind in ("core", "car_park", "gate", "bin_point", "drain_well", "tree_group", "light", "corridor"):
        cp, _, _ = await add_checkpoint(site.id, f"{kind}-{tag}", kind, zone_id=zone.id)
        checkpoints[kind] = cp
    await generate_templates(site.id)
    templates = {t.code: t for t in await RoundTemplate.objects().where(RoundTemplate.site == site.id).output(
        load_json=True)}
    users = {}
    for role in ("guard", "cleaner", "gardener", "technician", "supervisor", "admin"):
        users[role] = await create_staff(f"{role}-{tag}", f"{role} {tag}", role, PASSWORD, [site.id])
    if lights:
        await Light.insert(Light(site=site.id, zone=zone.id, label="路灯", count=lights))
    return {"site": site, "zone": zone, "checkpoints": checkpoints, "templates": templates, "users": users,
            "tag": tag, "clock": SiteClock(site)}


async def patrol_round(template: RoundTemplate, guard: Any, started: datetime, finished: datetime) -> Round:
    """A round through the inspection log writers; finishing it settles its patrol slot."""
    rnd = await rounds.start_round(uuid.uuid4(), template, guard, started, started)
    await rounds.finish_round(rnd, finished, finished)
    return rnd


async def bulk_rounds(template: RoundTemplate, staff: Any, starts: list[datetime]) -> None:
    """Finished rounds of a template (no slot settling: for frequencies counted per period)."""
    if starts:
        await Round.insert(*[Round(
            id=uuid.uuid4(), template=template.id, site=template.site, staff=staff.id, state="finished",
            started_at=s, started_device_at=s, finished_at=s + timedelta(minutes=20),
            finished_device_at=s + timedelta(minutes=20), received_at=s + timedelta(minutes=21),
        ) for s in starts])


async def finding(actor: Any, site_id: Any, category: str, at: datetime, severity: str = "normal") -> uuid.UUID:
    outcome = await rects.report_finding(actor, uuid.uuid4(), site_id, category, severity, at=at, device_at=at)
    return outcome.rectification.id


async def step(rect_id: Any, actor: Any, action: str, at: datetime, **extra: Any) -> rects.TransitionOutcome:
    if action == "fix":
        extra.setdefault("photos", [PHOTO])
    return await rects.transition(rect_id, actor, action, at=at, device_at=at, **extra)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
