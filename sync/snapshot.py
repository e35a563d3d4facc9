"""What one push batch needs to judge its ops, read in one query per table before any op is judged.

The batch's ops name templates, rounds, checkpoints, zones, visits, sites and
photos; the ids they would create may exist already (id_reused). All of it is
read here, inside the push's write transaction (after the change counter is
taken, so no other push can change it meanwhile), and then kept up to date in
memory as the batch's own ops create rounds, visits and findings. Judging an op
is then plain Python over this snapshot (sync/judge.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from server.bulk import column_list, fetch, select_in
from server.photos.tables import Photo
from server.rectifications.tables import Finding, Rectification
from server.rounds.tables import Round, RoundTemplate, TemplateItem, Visit
from server.sites.tables import Checkpoint, Site, SiteFigure, Zone
from server.staff.tables import SUPERVISOR_ROLES, Staff, StaffSite
from sync.ops import Clock, Op

@dataclass
class RoundState:
    """A round as the judging sees it: who started it, where, and whether it is finished."""

    id: uuid.UUID
    template: uuid.UUID
    site: uuid.UUID
    staff: uuid.UUID
    state: str


@dataclass
class CheckpointInfo:
    id: uuid.UUID
    site: uuid.UUID
    qr_hash: str
    code_hash: str


@dataclass
class Snapshot:
    """The batch's world: rows it references (None: not there, or outside the user's sites)."""

    user: Staff
    site_ids: set[uuid.UUID]
    clock: Clock
    seq: int  # the batch's position in the change sequence
    sites: dict[uuid.UUID, Site] = field(default_factory=dict)
    figures: dict[tuple[uuid.UUID, str], float] = field(default_factory=dict)
    templates: dict[uuid.UUID, RoundTemplate | None] = field(default_factory=dict)
    checks: dict[uuid.UUID, dict[uuid.UUID, dict[str, str]]] = field(default_factory=dict)
    checkpoints: dict[uuid.UUID, CheckpointInfo | None] = field(default_factory=dict)
    zones: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # zone -> its site
    rounds: dict[uuid.UUID, RoundState | None] = field(default_factory=dict)
    visits: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)  # visit -> (site, round)
    photos: set[str] = field(default_factory=set)  # uploaded already
    photos_asked: set[str] = field(default_factory=set)  # the hashes `photos` was read for
    taken: set[uuid.UUID] = field(default_factory=set)  # ids that ops would create and that exist

    @property
    def is_supervisor(self) -> bool:
        return self.user.role in SUPERVISOR_ROLES


def _wanted(ops: list[Op]) -> dict[str, set[Any]]:
    """Every id the ops name, by what it names."""
    wanted: dict[str, set[Any]] = {k: set() for k in (
        "new_rounds", "rounds", "templates", "checkpoints", "zones", "new_visits", "visits", "findings", "photos")}
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
    """The user's sites (every site they are a member of, as `site_ids_of` has them)."""
    rows = await fetch(f'SELECT {column_list(Site, "s")} FROM "{Site._meta.tablename}" s JOIN "{StaffSite._meta.tablename}" m '
                       'ON m."site" = s."id" WHERE m."staff" = ?', user.id)
    return {row["id"]: Site(_exists_in_db=True, **row) for row in rows}


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
    snap.photos_asked = wanted["photos"] | {s for s in more_photos if isinstance(s, str)}
    snap.photos = {r["sha256"] for r in await select_in(Photo, ("sha256",), "sha256", snap.photos_asked)}
    return snap
