"""Patrol slots (schedules and compliance) and the inspection log writers.

Public API (used by sync/, the console and the scheduler; keep signatures stable):

- ``slot_windows(template, day, tz) -> [(start, end)]``: the windows of a scheduled
  template on a local day (pure).
- ``slot_id(template_id, window_start) -> UUID``: slots have deterministic ids, so
  materialising the same window twice, even from two processes, makes one row.
- ``materialise_slots(site, templates, days) -> int``: create the missing slot rows.
- ``settle_round(round_id, finished_at) -> PatrolSlot | None``: a finished round
  settles the earliest open slot of its template as done (finished within the window)
  or late (within ``slot_grace_minutes`` after it).
- ``settle_missed_slots(now) -> [PatrolSlot]``: slots with no round once window +
  grace has passed become missed; idempotent, safe when run twice at once; calls the
  ``slot_missed`` hook for each newly missed slot after the commit.
- ``due_for(user, now) -> [dict]``: pull's ``due[]`` (today and tomorrow, site time).
- ``start_round``, ``record_visit``, ``finish_round``: the inspection log writers
  (sync/ judges the op first).

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

from server.db import write_transaction
from server.notify import events
from server.photos.services import link_photos
from server.rounds import schedule
from server.rounds.schedule import (  # noqa: F401 - re-exported: callers name them from here
    frequency_of, grace, is_scheduled, loaded, local_day, slot_id, slot_windows,
)
from server.rounds.tables import CheckAnswer, PatrolSlot, Round, RoundTemplate, Visit
from server.sites.tables import Site
from server.staff.tables import Staff, StaffSite

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


async def settle_round(round_id: Any, finished_at: datetime) -> PatrolSlot | None:
    """Settle the earliest open slot of the round's template that `finished_at` (corrected) falls in, plus grace.

    Done when finished within the window, late when within the grace after it. A
    slot the scheduler already marked missed is corrected when a round that was
    offline arrives later showing it was covered.
    """
    async with write_transaction():
        rnd = await Round.objects().where(Round.id == round_id).first()
        if rnd is None:
            return None
        template = await RoundTemplate.objects().where(RoundTemplate.id == rnd.template).first()
        site = await Site.objects().where(Site.id == rnd.site).first()
        if template is None or site is None or not is_scheduled(template):
            return None
        day = local_day(finished_at, site.timezone)
        await materialise_slots(site, [template], [day - timedelta(days=1), day])
        candidates = await PatrolSlot.objects().where(
            (PatrolSlot.template == template.id) & PatrolSlot.status.is_in(["pending", "missed"])
            & PatrolSlot.round.is_null() & (PatrolSlot.window_start <= finished_at)
            & (PatrolSlot.window_end >= finished_at - grace())
        ).order_by(PatrolSlot.window_start).limit(1)
        if not candidates:
            return None
        slot = candidates[0]
        status = "done" if finished_at <= slot.window_end else "late"
        updated = await PatrolSlot.update({
            PatrolSlot.status: status, PatrolSlot.round: rnd.id, PatrolSlot.staff: rnd.staff,
            PatrolSlot.settled_at: now(),
        }).where(
            (PatrolSlot.id == slot.id) & PatrolSlot.round.is_null()
        ).returning(PatrolSlot.id)
        if not updated:
            return None
        await Round.update({Round.slot: slot.id}).where(Round.id == rnd.id)
        slot.status, slot.round, slot.staff = status, rnd.id, rnd.staff
        return slot


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
    for slot in missed:
        try:
            await events.slot_missed(slot)
        except Exception:  # noqa: BLE001 - a notification must never undo the settlement
            log.exception("slot_missed hook failed")
    return missed


async def due_for(user: Staff, at: datetime | None = None) -> list[dict[str, Any]]:
    """This person's rounds due today and tomorrow (site time), for pull's due[]; reads only.

    Each window's status is the one rule's (server/rounds/schedule.py): the stored
    one as of `at` (``status_at``), windows nobody has materialised judged from the
    clock alike; windows that ended before the site or template existed are left
    out; an incomplete one carries ``visited`` of ``required`` (SYNC.md v1.1).
    """
    at = at or now()
    site_ids = [r["site"] for r in await StaffSite.select(StaffSite.site).where(StaffSite.staff == user.id)]
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


async def start_round(round_id: uuid.UUID, template: RoundTemplate, actor: Staff, started_at: datetime,
                      device_at: datetime, skew_seconds: float = 0.0, skew_flag: bool = False) -> Round:
    """Open a round in the inspection log (times: corrected and as the device said)."""
    async with write_transaction():
        rnd = Round(id=round_id, template=template.id, site=template.site, staff=actor.id, state="open",
                    started_at=started_at, started_device_at=device_at, received_at=now(),
                    skew_seconds=skew_seconds, skew_flag=skew_flag)
        await rnd.save()
    return rnd


async def record_visit(
    visit_id: uuid.UUID, rnd: Round, checkpoint: Any, actor: Staff, *, proof: str, proof_verified: bool,
    scanned_at: datetime, device_at: datetime, answers: list[dict[str, Any]], photos: list[str],
    lat: float | None = None, lng: float | None = None, accuracy_m: float | None = None, skew_flag: bool = False,
) -> tuple[Visit, list[str]]:
    """A checkpoint visit with its answers; returns it and the photos not uploaded yet."""
    shas = list(dict.fromkeys(photos))
    async with write_transaction():
        visit = Visit(id=visit_id, round=rnd.id, site=rnd.site, checkpoint=checkpoint.id, staff=actor.id,
                      proof=proof, proof_verified=proof_verified, scanned_at=scanned_at, scanned_device_at=device_at,
                      received_at=now(), lat=lat, lng=lng, accuracy_m=accuracy_m, photos=shas,
                      has_problem=any(not a["ok"] for a in answers), skew_flag=skew_flag)
        await visit.save()
        if answers:
            await CheckAnswer.insert(*[CheckAnswer(visit=visit_id, check_id=a["check_id"],
                                                   label_zh=a.get("label_zh", ""), ok=a["ok"],
                                                   note=a.get("note", "")) for a in answers])
        missing = await link_photos(rnd.site, "visit", visit_id, shas, rnd.id)
        if missing:
            visit.photos_missing = len(missing)
            await Visit.update({Visit.photos_missing: len(missing)}).where(Visit.id == visit_id)
    return visit, missing


async def finish_round(rnd: Round, finished_at: datetime, device_at: datetime, skew_flag: bool = False) -> PatrolSlot | None:
    """Close a round and settle its patrol slot (by corrected finish time)."""
    async with write_transaction():
        values: dict[Any, Any] = {Round.state: "finished", Round.finished_at: finished_at,
                                  Round.finished_device_at: device_at}
        if skew_flag:
            values[Round.skew_flag] = True
        await Round.update(values).where(Round.id == rnd.id)
        rnd.state, rnd.finished_at, rnd.finished_device_at = "finished", finished_at, device_at
        return await settle_round(rnd.id, finished_at)
