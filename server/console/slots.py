"""Patrol windows as the console counts them: every window the schedule asks for, stored or not.

A window only becomes a PatrolSlot row when a round settles it or the scheduler
materialises it; one nobody ever opened the app for (or that passed while the
scheduler was down) still counts, as missed once its grace is over. Ids are the
rounds service's deterministic slot ids, so stored and computed windows match.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable

from server.rounds import schedule
from server.rounds import services as rounds
from server.rounds.tables import PatrolSlot, RoundTemplate
from server.sites.tables import Site


is_patrol = schedule.is_patrol


async def patrol_templates(site_id: Any) -> list[RoundTemplate]:
    rows = await RoundTemplate.objects().where(
        (RoundTemplate.site == site_id) & (RoundTemplate.active == True)  # noqa: E712
    ).output(load_json=True)
    return [t for t in rows if is_patrol(t)]


async def windows(site: Site, templates: Iterable[Any], days: Iterable[date], at: datetime) -> list[dict[str, Any]]:
    """Every window of these templates on these local days, with its status as of `at`.

    The status is the one rule's (server/rounds/schedule.py ``status_at``): the
    stored one, else pending until the window's end plus the grace has passed and
    missed after; windows that are no slot (ended before the site or the template
    existed: ``exists``/``since_of``) are left out. A settled window carries the
    round's ``visited`` of ``required`` checkpoints.
    """
    grace = schedule.grace()
    planned: dict[Any, dict[str, Any]] = {}
    for template in templates:
        since = schedule.since_of(site, template)
        for day in days:
            for start, end in rounds.slot_windows(template, day, site.timezone):
                if not schedule.exists(end, since):
                    continue
                sid = rounds.slot_id(template.id, start)
                planned[sid] = {"id": sid, "template": template.id, "window_start": start, "window_end": end,
                                "status": "pending", "round": None, "staff": None, "stored": False,
                                "visited": None, "required": None}
    ids = list(planned)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for row in await PatrolSlot.select(PatrolSlot.id, PatrolSlot.status, PatrolSlot.round, PatrolSlot.staff,
                                           PatrolSlot.visited, PatrolSlot.required).where(PatrolSlot.id.is_in(chunk)):
            planned[row["id"]].update(status=row["status"], round=row["round"], staff=row["staff"], stored=True,
                                      visited=row["visited"], required=row["required"])
    out = sorted(planned.values(), key=lambda w: (w["window_start"], str(w["template"])))
    for w in out:
        w["status"] = schedule.status_at(w["status"], w["window_end"], at, grace)
    return out
