"""Patrol slots (schedules and compliance) and the inspection log writers.

Public API (used by sync/, the console and the scheduler; keep signatures stable):

- ``slot_windows(template, day, tz) -> [(start, end)]``: the windows of a scheduled
  template on a local day (pure).
- ``slot_id(template_id, window_start) -> UUID``: slots have deterministic ids, so
  materialising the same window twice, even from two processes, makes one row.
- ``materialise_slots(site, templates, days) -> int``: create the missing slot rows.
- finishing a round settles its slot (server/rounds/settle.py, by the window rule of
  server/rounds/schedule.py), a single finish as a batch of one.
- ``settle_missed_slots(now) -> [PatrolSlot]``: slots with no round once window +
  grace has passed become missed; idempotent, safe when run twice at once; calls the
  ``slot_missed`` hook for each newly missed slot after the commit.
- ``due_for(user, now) -> [dict]``: pull's ``due[]`` (today and tomorrow, site time).
- ``start_round``, ``record_visit``, ``finish_round``: one op as a batch of one, decided by
  server/rounds/decide.py and written by server/rounds/writer.py like a sync push's.

Which templates have slots: frequency periods "hours" (every N hours inside the
daily window) and "day" (the daily window split into `times` equal parts) give
slots per day; "week", "month", "quarter" and "year" give one slot per period
(every N of them), whole days in the site's time zone. "continuous",
"occurrence", "trigger" and "contract" have no slots.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from server import events
from server.bulk import select_in
from server.changes import next_position
from server.db import write_transaction
from server.rounds import schedule
from server.decisions import CheckpointInfo, RoundState, ServerClock, World
from server.photos.links import PhotoLinks, write_links
from server.photos.services import present_of
from server.rounds.decide import RoundRows, decide_finish, decide_round_start, decide_visit
from server.rounds.writer import write_rounds
from server.rounds.schedule import (  # noqa: F401 - re-exported: callers name them from here
    frequency_of, grace, is_scheduled, loaded, local_day, slot_id, slot_windows,
)
from server.rounds.tables import PatrolSlot, Round, RoundTemplate, TemplateItem, Visit
from server.sites.tables import Site
from server.staff.services import site_ids_of
from server.staff.tables import Staff

log = logging.getLogger("xunjian.rounds")


def now() -> datetime:
    return datetime.now(timezone.utc)


async def materialise_slots(site: Site, templates: Iterable[Any], days: Iterable[date]) -> int:
    """Create the slot rows of these templates on these local days that do not exist yet; returns how many."""
    windows: dict[uuid.UUID, tuple[Any, datetime, datetime]] = {}
    for template in templates:
        if not template.active or not is_scheduled(template):
            continue
        since = schedule.since_of(site, template)
        for day in days:
            for start, end in slot_windows(template, day, site.timezone):
                if not schedule.exists(end, since):
                    continue  # no slot from before the site or the template existed
                windows[slot_id(template.id, start)] = (template.id, start, end)
    if not windows:
        return 0
    # Written out: a sync push finishing rounds comes here once per push, and usually finds every slot made.
    existing = {r["id"] for r in await PatrolSlot.raw(
        f'SELECT "id" FROM "{PatrolSlot._meta.tablename}" WHERE "id" IN ({", ".join("{}" for _ in windows)})',
        *windows)}
    fresh = [PatrolSlot(id=sid, template=template_id, site=site.id, window_start=start, window_end=end,
                        status="pending")
             for sid, (template_id, start, end) in windows.items() if sid not in existing]
    if fresh:
        # DO NOTHING: another process may have made the same windows meanwhile.
        await PatrolSlot.insert(*fresh).on_conflict(action="DO NOTHING")
    return len(fresh)


async def settle_missed_slots(at: datetime | None = None) -> list[PatrolSlot]:
    """Mark missed every slot whose window + grace passed with no round; returns the newly missed ones.

    Materialises yesterday's and today's slots of every active site first, so a
    window nobody opened the app for is still counted. Run twice at once, each slot
    is marked (and its hook called) once: the UPDATE only takes rows still pending.
    """
    at = at or now()
    async with write_transaction():
        sites = await Site.objects().where(Site.active == True)  # noqa: E712
        for site in sites:
            templates = await RoundTemplate.objects().where(
                (RoundTemplate.site == site.id) & (RoundTemplate.active == True)  # noqa: E712
            )
            today = local_day(at, site.timezone)
            await materialise_slots(site, templates, [today - timedelta(days=1), today])
        # schedule.status_at's boundary, as one UPDATE: missed once `at` is past end + grace
        # (at exactly end + grace a round may still finish late: still pending).
        rows = await PatrolSlot.update({PatrolSlot.status: "missed", PatrolSlot.settled_at: at}).where(
            (PatrolSlot.status == "pending") & PatrolSlot.round.is_null() & (PatrolSlot.window_end < at - grace())
        ).returning(*PatrolSlot.all_columns())
    missed = [PatrolSlot(**row) for row in rows]
    await events.publish(*(events.SlotMissed(slot) for slot in missed))
    return missed


async def due_for(user: Staff, at: datetime | None = None) -> list[dict[str, Any]]:
    """This person's rounds due today and tomorrow (site time), for pull's due[]; reads only.

    Each window's status is the one rule's (server/rounds/schedule.py): the stored
    one as of `at` (``status_at``), windows nobody has materialised judged from the
    clock alike; windows that ended before the site or template existed are left
    out; an incomplete one carries ``visited`` of ``required`` (SYNC.md v1.1).
    """
    at = at or now()
    site_ids = await site_ids_of(user.id)
    if not site_ids:
        return []
    sites = {s.id: s for s in await Site.objects().where(Site.id.is_in(site_ids) & (Site.active == True))}  # noqa: E712
    if not sites:
        return []
    templates = await RoundTemplate.objects().where(
        RoundTemplate.site.is_in(list(sites)) & (RoundTemplate.role == user.role)
        & (RoundTemplate.active == True)  # noqa: E712
    )
    windows: dict[uuid.UUID, dict[str, Any]] = {}
    for template in templates:
        if not is_scheduled(template):
            continue
        site = sites[template.site]
        since = schedule.since_of(site, template)
        today = local_day(at, site.timezone)
        for day in (today, today + timedelta(days=1)):
            for start, end in slot_windows(template, day, site.timezone):
                if not schedule.exists(end, since):
                    continue  # a window that ended before its site or template existed is no slot
                windows[slot_id(template.id, start)] = {"template_id": str(template.id), "site_id": str(site.id),
                                                        "start": start, "end": end}
    stored = {}
    if windows:
        stored = {r["id"]: r for r in await PatrolSlot.select(
            PatrolSlot.id, PatrolSlot.status, PatrolSlot.visited, PatrolSlot.required).where(
            PatrolSlot.id.is_in(list(windows)))}
    margin = grace()
    due = []
    for sid, w in windows.items():
        row = stored.get(sid) or {"status": "pending"}
        status = schedule.status_at(row["status"], w["end"], at, margin)
        entry = {"template_id": w["template_id"], "site_id": w["site_id"], "slot_id": str(sid),
                 "window_start": w["start"].isoformat(), "window_end": w["end"].isoformat(), "status": status}
        if status == "incomplete":
            entry.update(visited=row.get("visited"), required=row.get("required"))
        due.append(entry)
    due.sort(key=lambda d: (d["window_start"], d["template_id"]))
    return due


def _world(actor: Staff, site_id: Any, at: datetime, device_at: datetime, skew_seconds: float = 0.0,
           skew_flag: bool = False) -> World:
    """The world of one op decided on the server (the caller has judged that it may happen)."""
    return World(user=actor, site_ids={site_id}, clock=ServerClock(received_at=now(), skew=at - device_at,
                                                                    flagged=skew_flag), seq=0)


async def start_round(round_id: uuid.UUID, template: RoundTemplate, actor: Staff, started_at: datetime,
                      device_at: datetime, skew_seconds: float = 0.0, skew_flag: bool = False) -> Round:
    """Open a round in the inspection log (times: corrected and as the device said); a batch of one."""
    world = _world(actor, template.site, started_at, device_at, skew_seconds, skew_flag)
    world.templates[template.id] = template
    rows = RoundRows()
    decide_round_start(world, rows, PhotoLinks(), {"round_id": round_id, "template_id": template.id,
                                                    "started_at": device_at})
    async with write_transaction():
        await write_rounds(rows)
    return Round(**rows.rounds[round_id])


async def _round_world(rnd: Round, actor: Staff, at: datetime, device_at: datetime, skew_flag: bool) -> World:
    world = _world(actor, rnd.site, at, device_at, skew_flag=skew_flag)
    state = RoundState(id=rnd.id, template=rnd.template, site=rnd.site, staff=rnd.staff, state=rnd.state)
    state.visited = {r["checkpoint"] for r in await select_in(Visit, ("checkpoint",), "round", [rnd.id])}
    world.rounds[rnd.id] = state
    for item in await select_in(TemplateItem, ("template", "checkpoint", "checks"), "template", [rnd.template]):
        world.checks.setdefault(item["template"], {})[item["checkpoint"]] = {
            c["id"]: c.get("label_zh", "") for c in loaded(item["checks"]) or []}
    return world


async def record_visit(
    visit_id: uuid.UUID, rnd: Round, checkpoint: Any, actor: Staff, *, proof: str, proof_verified: bool,
    scanned_at: datetime, device_at: datetime, answers: list[dict[str, Any]], photos: list[str],
    lat: float | None = None, lng: float | None = None, accuracy_m: float | None = None, skew_flag: bool = False,
) -> tuple[Visit, list[str]]:
    """A checkpoint visit with its answers; returns it and the photos not uploaded yet (a batch of one).

    `proof_verified` is what the caller found (seeding and imports check the proof elsewhere).
    """
    shas = list(dict.fromkeys(photos))
    async with write_transaction():
        await next_position()  # orders the references against a photo arriving (photos.services.link_photos)
        world = await _round_world(rnd, actor, scanned_at, device_at, skew_flag)
        world.checkpoints[checkpoint.id] = CheckpointInfo(id=checkpoint.id, site=checkpoint.site,
                                                          qr_hash=checkpoint.qr_hash, code_hash=checkpoint.code_hash)
        if not world.checks:  # a round without items: its answers are the caller's
            world.checks[rnd.template] = {checkpoint.id: {a["check_id"]: a.get("label_zh", "") for a in answers}}
        world.photos = await present_of(shas)
        rows, links = RoundRows(), PhotoLinks()
        outcome = decide_visit(world, rows, links, {
            "visit_id": visit_id, "round_id": rnd.id, "checkpoint_id": checkpoint.id, "proof": proof,
            "scanned_at": device_at, "lat": lat, "lng": lng, "accuracy_m": accuracy_m, "photos": shas,
            "answers": [{"check_id": a["check_id"], "ok": a["ok"], "note": a.get("note", "")} for a in answers]})
        if rows.visits:
            rows.visits[0]["proof_verified"] = proof_verified
        await write_rounds(rows)
        await write_links(links, world.photos)
    visit = Visit(**rows.visits[0]) if rows.visits else None
    return visit, outcome.missing_photos  # type: ignore[return-value]


async def finish_round(rnd: Round, finished_at: datetime, device_at: datetime, skew_flag: bool = False) -> PatrolSlot | None:
    """Close a round and settle its patrol slot (by corrected finish time); a batch of one."""
    async with write_transaction():
        world = await _round_world(rnd, rnd.staff if isinstance(rnd.staff, Staff) else _Actor(rnd.staff),
                                   finished_at, device_at, skew_flag)
        rows = RoundRows()
        decide_finish(world, rows, PhotoLinks(), {"round_id": rnd.id, "finished_at": device_at})
        slots = await write_rounds(rows)
        rnd.state, rnd.finished_at, rnd.finished_device_at = "finished", finished_at, device_at
        slot_id = slots.get(rnd.id)
        return await PatrolSlot.objects().where(PatrolSlot.id == slot_id).first() if slot_id else None


class _Actor:
    """Who finishes a round in a service call: the person who started it."""

    role = ""

    def __init__(self, staff_id: Any) -> None:
        self.id = staff_id
