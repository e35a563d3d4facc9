"""What the security tests share: the route table, two sites full of records, concrete paths."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

ROLES = ("guard", "cleaner", "gardener", "technician", "supervisor", "admin")
ANON = "anonymous"
# Path parameters naming an object that belongs to a site (or to a person).
OBJECT_PARAMS = ("site_id", "staff_id", "cp_id", "zone_id", "light_id", "template_id", "rect_id", "finding_id",
                 "round_id", "record_id", "token_id", "notification_id", "sha256")


def app_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the route table; OPTIONS is Litestar's own answer on each path."""
    return sorted((method, route.path) for route in app.routes for method in route.route_handler_map
                  if method != "OPTIONS")


def path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


@dataclass
class SiteWorld:
    """A site with one person per role, a victim for admin actions, and one record of each kind."""

    ids: dict[str, str]
    users: dict[str, Any]


async def site_world() -> SiteWorld:
    from console_data import new_site, quick_staff, upload
    from photo_samples import jpeg

    from server.notify.inbox import Draft, store
    from server.rectifications.services import report_finding
    from server.rounds.services import start_round
    from server.sites.tables import Light
    from server.staff.auth import issue_device_token
    from server.staff.tables import DeviceToken

    s = await new_site()
    users, site_id = s["users"], s["site"].id
    guard = users["guard"]
    victim = await quick_staff(f"victim-{s['tag']}", "受害者", "guard", site_id)
    await issue_device_token(victim, "victim-phone", "victim")
    token = await DeviceToken.select(DeviceToken.id).where(DeviceToken.staff == victim.id).first()
    light = Light(site=site_id, zone=s["zone"].id, label="路灯", count=3)
    await light.save()
    photo = await upload(guard, jpeg(seed=hash(s["tag"]) % 1000))
    rect_id = uuid.uuid4()
    await report_finding(guard, rect_id, site_id, "drain", "normal", photos=[photo])
    now = datetime.now(timezone.utc)
    rnd = await start_round(uuid.uuid4(), s["templates"]["patrol.core"], guard, now, now)
    notes = {}
    for role, person in users.items():
        [notes[role]] = await store([Draft(staff=person, kind="finding", event_key=f"matrix-{uuid.uuid4()}",
                                           title="矩阵", body="矩阵测试", url="/notifications")])
    ids = {"site_id": site_id, "staff_id": victim.id, "token_id": token["id"], "cp_id": s["checkpoints"]["core"].id,
           "zone_id": s["zone"].id, "light_id": light.id, "template_id": s["templates"]["patrol.core"].id,
           "rect_id": rect_id, "finding_id": rect_id, "record_id": rect_id, "round_id": rnd.id, "sha256": photo}
    return SiteWorld(ids={k: str(v) for k, v in ids.items()} | {f"note:{r}": str(n) for r, n in notes.items()},
                     users=users)


def params_for(path: str, scope: str, role: str, own: SiteWorld, other: SiteWorld) -> dict[str, str]:
    values = {"language": "en", "file_path": "css/app.css", "path": "nothing-here", "record_type": "finding",
              "action": "comment"}
    objects = [name for name in path_params(path) if name in OBJECT_PARAMS]
    for position, name in enumerate(objects):
        world = own if scope == "own" or (scope == "mixed" and position == 0) else other
        if name == "notification_id":
            # Your own notification, or someone else's (another site's supervisor's).
            values[name] = world.ids[f"note:{role if world is own and role != ANON else 'supervisor'}"]
        else:
            values[name] = world.ids[name]
    return values



def fill(path: str, values: dict[str, str]) -> str:
    """The route's path with its parameters replaced ("/a/{x:uuid}" -> "/a/<values['x']>")."""
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values[m.group(1)], path)
