"""Settling the patrol slots of finished rounds: one finish or fifty (a sync push), the same way.

For each template the rounds finished, the candidate slots (windows that may
hold a finish time, read once) are handed to the window rule
(`server.rounds.schedule.settle`: which window a round settles and with which
status), in the order the rounds came; every choice is written with one
statement. A slot another writer settled meanwhile keeps its round (the UPDATE
only takes unsettled ones).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from server.bulk import executemany, fetch, select_in
from server.rounds import schedule
from server.rounds.schedule import grace, is_scheduled, local_day
from server.rounds.tables import PatrolSlot, RoundTemplate, TemplateItem
from server.sites.tables import Site



@dataclass(frozen=True)
class Finished:
    round_id: uuid.UUID
    template_id: uuid.UUID
    staff_id: uuid.UUID
    finished_at: datetime  # corrected
    visited: int = 0  # distinct checkpoints of the template visited in the round


_SLOTS = PatrolSlot._meta.tablename
_SETTLE = (f'UPDATE "{_SLOTS}" SET "status" = ?, "round" = ?, "staff" = ?, "settled_at" = ?, '
           '"visited" = ?, "required" = ? '
           # A full round replacing an incomplete one takes its slot; an unsettled slot still takes only one round.
           'WHERE "id" = ? AND ("round" IS NULL OR "status" = \'incomplete\')')


async def _required(template_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many checkpoints each template requires (its items)."""
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for item in await select_in(TemplateItem, ("template", "checkpoint"), "template", template_ids):
        counts[item["template"]] += 1
    return counts


async def settle_rounds(finished: list[Finished], templates: dict[uuid.UUID, RoundTemplate] | None = None,
                        sites: dict[uuid.UUID, Site] | None = None) -> dict[uuid.UUID, uuid.UUID]:
    """Settle the slots of these rounds, in this order; returns round id -> slot id for those that got one.

    Call inside the write transaction that finished the rounds. `templates` and
    `sites` may hold rows the caller has read already; the others are read here.
    """
    from server.rounds.services import materialise_slots  # services imports the writer, which imports this

    if not finished:
        return {}
    templates = dict(templates or {})
    lacking = list({f.template_id for f in finished} - set(templates))
    if lacking:
        templates.update({t.id: t for t in await RoundTemplate.objects().where(RoundTemplate.id.is_in(lacking))})
    sites = dict(sites or {})
    lacking = list({t.site for t in templates.values()} - set(sites))
    if lacking:
        sites.update({s.id: s for s in await Site.objects().where(Site.id.is_in(lacking))})
    scheduled = [f for f in finished if f.template_id in templates and templates[f.template_id].site in sites
                 and is_scheduled(templates[f.template_id])]
    if not scheduled:
        return {}
    days: dict[uuid.UUID, set[Any]] = defaultdict(set)
    for f in scheduled:
        day = local_day(f.finished_at, sites[templates[f.template_id].site].timezone)
        days[f.template_id].update((day - timedelta(days=1), day))
    for template_id, wanted in days.items():
        template = templates[template_id]
        await materialise_slots(sites[template.site], [template], sorted(wanted))
    margin = grace()
    marks = ", ".join("?" for _ in days)
    states = "'pending', 'missed', 'incomplete'"
    candidates = await fetch(
        f'SELECT "id", "template", "window_start", "window_end", "status", "round" FROM "{_SLOTS}" '
        f'WHERE "template" IN ({marks}) AND "status" IN ({states}) AND "window_start" <= ? '
        'AND "window_end" >= ? ORDER BY "window_start"',
        *days, max(f.finished_at for f in scheduled), min(f.finished_at for f in scheduled) - margin)
    required = await _required(list(days))
    windows: dict[uuid.UUID, list[schedule.Window]] = defaultdict(list)
    slot_of: dict[int, dict[str, Any]] = {}
    for slot in candidates:
        window = schedule.Window(start=slot["window_start"], end=slot["window_end"], status=slot["status"],
                                 round=slot["round"])
        windows[slot["template"]].append(window)
        slot_of[id(window)] = slot
    chosen: dict[uuid.UUID, uuid.UUID] = {}
    updates = []
    settled_at = datetime.now(timezone.utc)
    for template_id in days:
        rounds = [f for f in scheduled if f.template_id == template_id]
        need = required.get(template_id, 0)
        rules = [schedule.Finished(id=f, finished_at=f.finished_at, visited=min(f.visited, need),
                                   required=need) for f in rounds]
        for rnd, window in schedule.settle(windows[template_id], rules, margin):
            f, slot = rnd.id, slot_of[id(window)]
            chosen[f.round_id] = slot["id"]
            updates.append((window.status, f.round_id, f.staff_id, settled_at, window.visited, window.required,
                            slot["id"]))
    await executemany(_SETTLE, updates)
    if not chosen:
        return {}
    held = {r["id"]: r["round"] for r in await select_in(PatrolSlot, ("id", "round"), "id", chosen.values())}
    return {round_id: slot_id for round_id, slot_id in chosen.items() if held.get(slot_id) == round_id}
