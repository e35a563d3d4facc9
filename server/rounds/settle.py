"""Settling the patrol slots of many finished rounds at once (a sync push finishing fifty rounds).

`settle_rounds` gives each round the slot `services.settle_round` would give it
when called once per round in the same order: the earliest open slot (pending,
or missed by the scheduler) of its template whose window holds the corrected
finish time, within the grace after the window; done inside the window, late in
the grace. It reads the templates, sites and candidate slots once, chooses in
memory, and writes every choice with one statement.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.bulk import executemany, fetch, select_in
from server.rounds.services import grace, is_scheduled, local_day, materialise_slots, now
from server.rounds.tables import PatrolSlot, RoundTemplate
from server.sites.tables import Site


@dataclass(frozen=True)
class Finished:
    round_id: uuid.UUID
    template_id: uuid.UUID
    staff_id: uuid.UUID
    finished_at: datetime  # corrected


_SLOTS = PatrolSlot._meta.tablename
_SETTLE = (f'UPDATE "{_SLOTS}" SET "status" = ?, "round" = ?, "staff" = ?, "settled_at" = ? '
           'WHERE "id" = ? AND "round" IS NULL')


async def settle_rounds(finished: list[Finished], templates: dict[uuid.UUID, RoundTemplate] | None = None,
                        sites: dict[uuid.UUID, Site] | None = None) -> dict[uuid.UUID, uuid.UUID]:
    """Settle the slots of these rounds, in this order; returns round id -> slot id for those that got one.

    Call inside the write transaction that finished the rounds. `templates` and
    `sites` may hold rows the caller has read already; the others are read here.
    """
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
    candidates = await fetch(
        f'SELECT "id", "template", "window_start", "window_end" FROM "{_SLOTS}" WHERE "template" IN ({marks}) '
        'AND "status" IN (\'pending\', \'missed\') AND "round" IS NULL AND "window_start" <= ? '
        'AND "window_end" >= ? ORDER BY "window_start"',
        *days, max(f.finished_at for f in scheduled), min(f.finished_at for f in scheduled) - margin)
    by_template: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for slot in candidates:
        by_template[slot["template"]].append(slot)
    chosen: dict[uuid.UUID, uuid.UUID] = {}
    updates = []
    settled_at = now()
    for f in scheduled:
        slots = by_template[f.template_id]
        slot = next((s for s in slots if s["window_start"] <= f.finished_at
                     and s["window_end"] >= f.finished_at - margin), None)
        if slot is None:
            continue
        slots.remove(slot)  # one round per slot
        status = "done" if f.finished_at <= slot["window_end"] else "late"
        chosen[f.round_id] = slot["id"]
        updates.append((status, f.round_id, f.staff_id, settled_at, slot["id"]))
    await executemany(_SETTLE, updates)
    if not chosen:
        return {}
    # A slot another writer settled meanwhile kept its round (the UPDATE only takes unsettled ones).
    held = {r["id"]: r["round"] for r in await select_in(PatrolSlot, ("id", "round"), "id", chosen.values())}
    return {round_id: slot_id for round_id, slot_id in chosen.items() if held.get(slot_id) == round_id}
