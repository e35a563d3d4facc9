"""What one push batch needs to judge its ops, read in one query per table before any op is judged.

The batch's ops name templates, rounds, checkpoints, zones, visits, sites and
photos; the ids they would create may exist already (id_reused). All of it is
read here, inside the push's write transaction (after the change counter is
taken, so no other push can change it meanwhile), and then kept up to date in
memory as the batch's own ops create rounds, visits, findings and steps. Judging an op
is then the domains' plain Python over this snapshot (sync/record.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable

from server.bulk import select_in
from server.decisions import CheckpointInfo, RoundState, World
from server.photos.tables import Photo
from server.rectifications import services as rectifications
from server.rectifications.tables import Finding, Rectification
from server.rounds.tables import Round, RoundTemplate, TemplateItem, Visit
from server.sites.tables import Checkpoint, Site, SiteFigure, Zone
from server.staff.services import site_ids_of
from server.staff.tables import Staff
from sync.ops import Clock, Op

Snapshot = World  # what a push's ops are judged on (server/decisions.py)


def _wanted(ops: list[Op]) -> dict[str, set[Any]]:
    """Every id the ops name, by what it names."""
    wanted: dict[str, set[Any]] = {k: set() for k in (
        "new_rounds", "rounds", "finished", "templates", "checkpoints", "zones", "new_visits", "visits", "findings",
        "rects", "assignees", "photos")}
    for op in ops:
        data = op.data
        if op.type == "round.start":
            wanted["new_rounds"].add(data["round_id"])
            wanted["templates"].add(data["template_id"])
        elif op.type == "visit.record":
            wanted["rounds"].add(data["round_id"])
            wanted["checkpoints"].add(data["checkpoint_id"])
            wanted["new_visits"].add(data["visit_id"])
        elif op.type == "round.finish":
            wanted["rounds"].add(data["round_id"])
            wanted["finished"].add(data["round_id"])
        elif op.type == "rect.transition":
            wanted["rects"].add(data["rect_id"])
            if data.get("assignee_id") is not None:
                wanted["assignees"].add(data["assignee_id"])
        elif op.type == "finding.report":
            wanted["findings"].add(data["finding_id"])
            for name, kind in (("checkpoint_id", "checkpoints"), ("zone_id", "zones"), ("visit_id", "visits")):
                if name in data:
                    wanted[kind].add(data[name])
        else:
            continue
        wanted["photos"].update(data.get("photos") or [])
    return wanted


async def _sites(user: Staff) -> dict[uuid.UUID, Site]:
    """The user's sites, as the one membership rule has them (server.staff.services.site_ids_of)."""
    ids = await site_ids_of(user.id)
    return {s.id: s for s in await Site.objects().where(Site.id.is_in(ids))} if ids else {}


async def load(user: Staff, clock: Clock, seq: int, ops: list[Op], more_photos: Iterable[str] = ()) -> Snapshot:
    """Read everything `ops` reference, one query per table (and whether `more_photos` are uploaded)."""
    sites = await _sites(user)
    snap = Snapshot(user=user, site_ids=set(sites), clock=clock, seq=seq, sites=sites)
    site_ids = snap.site_ids
    wanted = _wanted(ops)

    round_ids = wanted["rounds"] | wanted["new_rounds"]
    for row in await select_in(Round, ("id", "template", "site", "staff", "state"), "id", round_ids):
        if row["id"] in wanted["new_rounds"]:
            snap.taken.add(row["id"])
        snap.rounds[row["id"]] = RoundState(**row) if row["site"] in site_ids else None

    template_ids = wanted["templates"] | {r.template for r in snap.rounds.values() if r is not None}
    for row in await select_in(RoundTemplate, None, "id", template_ids):
        template = RoundTemplate(_exists_in_db=True, **row)
        snap.templates[template.id] = template if template.site in site_ids else None
    for item in await select_in(TemplateItem, ("template", "checkpoint", "checks"), "template", template_ids):
        snap.checks.setdefault(item["template"], {})[item["checkpoint"]] = {
            c["id"]: c.get("label_zh", "") for c in json.loads(item["checks"] or "[]")}

    rounds_finished = [r for r in wanted["finished"] if snap.rounds.get(r) is not None]
    for row in await select_in(Visit, ("round", "checkpoint"), "round", rounds_finished):
        snap.rounds[row["round"]].visited.add(row["checkpoint"])

    for row in await select_in(Checkpoint, ("id", "site", "qr_hash", "code_hash"), "id", wanted["checkpoints"]):
        snap.checkpoints[row["id"]] = CheckpointInfo(**row) if row["site"] in site_ids else None
    for row in await select_in(Zone, ("id", "site"), "id", wanted["zones"]):
        snap.zones[row["id"]] = row["site"]

    for row in await select_in(Visit, ("id", "site", "round"), "id", wanted["visits"] | wanted["new_visits"]):
        if row["id"] in wanted["new_visits"]:
            snap.taken.add(row["id"])
        snap.visits[row["id"]] = (row["site"], row["round"])

    if wanted["findings"]:
        for table in (Finding, Rectification):  # a finding's rectification has its id
            snap.taken.update(r["id"] for r in await select_in(table, ("id",), "id", wanted["findings"]))
        for row in await select_in(SiteFigure, ("site", "code", "value"), "site", site_ids):
            snap.figures[(row["site"], row["code"])] = float(row["value"])
    if wanted["rects"]:
        await rectifications.load(snap, wanted["rects"], wanted["assignees"])
    snap.photos_asked = wanted["photos"] | {s for s in more_photos if isinstance(s, str)}
    snap.photos = {r["sha256"] for r in await select_in(Photo, ("sha256",), "sha256", snap.photos_asked)}
    return snap
