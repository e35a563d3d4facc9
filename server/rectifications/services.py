"""The rectification log (整改记录): each step decided once (decide.py), written once (writer.py).

Public API (used by sync/, the supervisor console and the scheduler):

- ``load(world, rect_ids, assignee_ids)``: read what deciding steps on these rectifications needs.
- ``report_finding(actor, finding_id, site_id, category, severity, ...) -> FindingOutcome``.
- ``open_reception(actor, site_id, category, severity, ...) -> Rectification``.
- ``transition(rect_id, actor, action, ...) -> TransitionOutcome``: one step, applied
  or kept in the history as a conflict, in receipt order.
- ``change_deadline``, ``record_followup``, ``mark_reviewed``, ``flag_overdue``: the console's and
  the scheduler's steps.

Each is a batch of one: a world read for the one record, the domain's decision,
its writer. Every write joins the caller's transaction when there is one (the sync
push). Events (server/events.py) are published after the commit: when the caller
owns the transaction, they come back in ``outcome.events`` for it to publish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from server import events, standard
from server.bulk import select_in
from server.changes import next_position
from server.db import engine, write_transaction
from server.decisions import CheckpointInfo, Outcome, ServerClock, World
from server.errors import NotFound
from server.photos.links import PhotoLinks, write_links
from server.photos.services import present_of
from server.rectifications import writer
from server.rectifications.decide import (  # noqa: F401 - re-exported: callers name them from here
    ACTIONS, MEMBER_ROLES, SEVERITIES, STATES, RectRows, decide_deadline, decide_finding, decide_followup,
    decide_reception, decide_transition, next_state, sla_deadline,
)
from server.rectifications.tables import Finding, Rectification, RectTransition
from server.rounds.tables import Visit
from server.sites.services import figure
from server.sites.tables import Checkpoint, Site, SiteFigure, Zone
from server.staff.services import is_active_field_member, site_ids_of  # noqa: F401 - re-exported
from server.staff.tables import Staff

EMPTY_TIME = timedelta(0)


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TransitionOutcome:
    status: str  # applied | conflict
    state: str  # the rectification's state after this step
    rectification: Rectification
    transition_id: uuid.UUID
    missing_photos: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # still to publish after the caller commits


@dataclass
class FindingOutcome:
    finding: Finding
    rectification: Rectification
    missing_photos: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


async def load(world: World, rect_ids: Iterable[Any], assignee_ids: Iterable[Any] = ()) -> None:
    """Read the rectifications (with their history's length) and the assignees these steps name into `world`."""
    rect_ids = [i for i in dict.fromkeys(rect_ids) if i is not None and i not in world.rects]
    if rect_ids:
        for row in await Rectification.select().where(Rectification.id.is_in(rect_ids)).output(load_json=True):
            world.rects[row["id"]] = row
            world.positions[row["id"]] = 0
        for row in await select_in(RectTransition, ("rectification",), "rectification", list(world.rects)):
            if row["rectification"] in rect_ids:
                world.positions[row["rectification"]] += 1
        lacking = {r["site"] for r in world.rects.values() if r is not None} - set(world.sites)
        if lacking:
            world.sites.update({s.id: s for s in await Site.objects().where(Site.id.is_in(list(lacking)))})
    assignee_ids = [i for i in dict.fromkeys(assignee_ids) if i is not None and i not in world.staff]
    if assignee_ids:
        for person in await Staff.objects().where(Staff.id.is_in(assignee_ids)):
            world.staff[person.id] = person
            world.staff_sites[person.id] = set(await site_ids_of(person.id))


async def _world(actor: Staff, at: datetime, device_at: datetime | None = None, skew_flag: bool = False) -> World:
    """The world of one step on the server: the actor's sites, the change position, this moment."""
    seq = await next_position()  # taken first: it also orders concurrent writers on PostgreSQL
    skew = at - device_at if device_at is not None else None
    return World(user=actor, site_ids=set(await site_ids_of(actor.id)),
                 clock=ServerClock(received_at=now(), skew=skew, flagged=skew_flag), seq=seq)


async def _site_world(world: World, site_id: Any) -> None:
    """The site row and its figures (a new rectification's deadline)."""
    if site_id not in world.sites:
        site = await Site.objects().where(Site.id == site_id).first()
        if site is not None:
            world.sites[site_id] = site
    for row in await select_in(SiteFigure, ("site", "code", "value"), "site", [site_id]):
        world.figures[(row["site"], row["code"])] = float(row["value"])


async def _write(world: World, rows: RectRows, links: PhotoLinks) -> None:
    await writer.write_rects(rows)
    await write_links(links, world.photos)


async def _finish(outer: bool, pending: list[Any]) -> list[Any]:
    """Publish now when this call owned the transaction (it has committed); else hand the events back."""
    if not outer:
        await events.publish(*pending)
        return []
    return pending


async def deadline_for(site_id: Any, category: str, severity: str, start: datetime) -> tuple[str, datetime, str]:
    """The SLA code, deadline and a readable reason for a finding or request opened at `start` (corrected time)."""
    site = await Site.objects().where(Site.id == site_id).first()
    if site is None:
        raise NotFound("没有这个小区 / no such site")
    code = standard.sla_code_for(category, severity)
    due, reason = sla_deadline(code, await figure(site_id, code), start, site.timezone, site.level)
    return code, due, reason


async def report_finding(
    actor: Staff, finding_id: uuid.UUID, site_id: Any, category: str, severity: str, *,
    checkpoint_id: Any = None, zone_id: Any = None, visit_id: Any = None, note: str = "",
    photos: Iterable[str] = (), lat: float | None = None, lng: float | None = None,
    at: datetime | None = None, device_at: datetime | None = None, skew_flag: bool = False,
    round_id: Any = None,
) -> FindingOutcome:
    """Record a finding and open its rectification (same id) with the site's deadline; `at` starts the clock.

    `round_id`: the round it was reported during, when no visit names it (the reuse check's occasion).
    """
    at = at or now()
    shas = list(dict.fromkeys(photos))
    data = {"finding_id": finding_id, "site_id": site_id, "category": category, "severity": severity, "note": note,
            "photos": shas, "lat": lat, "lng": lng}
    for name, value in (("checkpoint_id", checkpoint_id), ("zone_id", zone_id), ("visit_id", visit_id),
                        ("round_id", round_id)):
        if value is not None:
            data[name] = value
    outer = engine().transaction_exists()
    async with write_transaction():
        world = await _world(actor, at, device_at or at, skew_flag)
        if site_id in world.site_ids:
            await _site_world(world, site_id)
        if checkpoint_id is not None:
            for row in await select_in(Checkpoint, ("id", "site", "qr_hash", "code_hash"), "id", [checkpoint_id]):
                world.checkpoints[row["id"]] = CheckpointInfo(**row) if row["site"] in world.site_ids else None
        if zone_id is not None:
            world.zones.update({r["id"]: r["site"] for r in await select_in(Zone, ("id", "site"), "id", [zone_id])})
        if visit_id is not None:
            world.visits.update({r["id"]: (r["site"], r["round"])
                                 for r in await select_in(Visit, ("id", "site", "round"), "id", [visit_id])})
        world.taken.update(r["id"] for r in await select_in(Rectification, ("id",), "id", [finding_id]))
        world.taken.update(r["id"] for r in await select_in(Finding, ("id",), "id", [finding_id]))
        world.photos = await present_of(shas)
        rows, links = RectRows(), PhotoLinks()
        outcome: Outcome = decide_finding(world, rows, links, data, device_at or at)
        await _write(world, rows, links)
    finding, rect = rows.reported[0]
    pending = await _finish(outer, [events.FindingsReported([(finding, rect)])])
    return FindingOutcome(finding=Finding(**finding), rectification=Rectification(**rect),
                          missing_photos=outcome.missing_photos, events=pending)


async def open_reception(
    actor: Staff, site_id: Any, category: str, severity: str = "normal", *, note: str = "",
    resident_unit: str = "", resident_contact: str = "", at: datetime | None = None,
) -> Rectification:
    """A resident's repair request or complaint logged at reception (supervisors only)."""
    at = at or now()
    async with write_transaction():
        world = await _world(actor, at)
        await _site_world(world, site_id)
        rows = RectRows()
        rect = decide_reception(world, rows, site_id, category, severity, note=note, resident_unit=resident_unit,
                                resident_contact=resident_contact, at=at)
        await _write(world, rows, PhotoLinks())
    return Rectification(**rect)


async def transition(
    rect_id: Any, actor: Staff, action: str, *, assignee_id: Any = None, note: str = "",
    photos: Iterable[str] = (), at: datetime | None = None, device_at: datetime | None = None,
    op_id: Any = None, source: str = "phone", skew_flag: bool = False,
) -> TransitionOutcome:
    """One step of the state machine, applied or recorded as a conflict, in receipt order (see decide.py).

    `at` is the corrected time of the action (default: now).
    """
    at = at or now()
    shas = list(dict.fromkeys(photos))
    outer = engine().transaction_exists()
    async with write_transaction():
        world = await _world(actor, at, device_at or at, skew_flag)
        await load(world, [rect_id], [assignee_id])
        world.photos = await present_of(shas)
        rows, links = RectRows(), PhotoLinks()
        data = {"rect_id": rect_id, "action": action, "assignee_id": assignee_id, "note": note, "photos": shas}
        outcome = decide_transition(world, rows, links, data, device_at or at, op_id=op_id, source=source)
        await _write(world, rows, links)
    rect = world.rects[rect_id]
    pending = await _finish(outer, rows.events)
    return TransitionOutcome(status=outcome.status, state=outcome.state, rectification=Rectification(**rect),
                             transition_id=rows.transitions[-1]["id"], missing_photos=outcome.missing_photos,
                             events=pending)


async def change_deadline(actor: Staff, site_id: Any, rect_id: Any, due: datetime, reason: str) -> Rectification:
    """A new deadline with its reason; the history keeps the old one. Not once verified."""
    at = now()
    async with write_transaction():
        world = await _world(actor, at)
        await load(world, [rect_id])
        rows = RectRows()
        rect = decide_deadline(world, rows, rect_id, site_id, due, reason, at)
        await _write(world, rows, PhotoLinks())
    return Rectification(**rect)


async def record_followup(actor: Staff, site_id: Any, rect_id: Any, outcome: str) -> Rectification:
    """The follow-up call (回访) to the resident after a verified repair or complaint; once."""
    at = now()
    async with write_transaction():
        world = await _world(actor, at)
        await load(world, [rect_id])
        rows = RectRows()
        rect = decide_followup(world, rows, rect_id, site_id, outcome, at)
        await _write(world, rows, PhotoLinks())
    return Rectification(**rect)


async def mark_reviewed(site_id: Any, finding_id: Any) -> None:
    """A supervisor has looked at this finding's evidence (it leaves the Today review list)."""
    async with write_transaction():
        if not await writer.mark_reviewed([finding_id], site_id):
            raise NotFound("没有这条发现 / no such finding")


async def flag_overdue(rect_id: Any, due_at: datetime) -> None:
    """The scheduler announced this deadline as passed."""
    async with write_transaction():
        await writer.flag_overdue(rect_id, due_at)


async def history(rect_id: Any) -> list[RectTransition]:
    """Every step of a rectification, conflicts included, in receipt order."""
    return await RectTransition.objects().where(RectTransition.rectification == rect_id).order_by(
        RectTransition.position)
