"""Small name lookups shared by the console's pages (one query each, keyed by id)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, Iterable

from server.rounds.tables import RoundTemplate, Visit
from server.sites.tables import Checkpoint, Zone
from server.staff.tables import FIELD_ROLES, Staff, StaffSite


async def staff_of_site(site_id: Any, roles: Iterable[str] | None = None, active_only: bool = True) -> list[dict[str, Any]]:
    """People of a site (id, name, role, username), by role then name."""
    ids = [r["staff"] for r in await StaffSite.select(StaffSite.staff).where(StaffSite.site == site_id)]
    if not ids:
        return []
    query = Staff.select(Staff.id, Staff.name, Staff.role, Staff.username, Staff.active).where(Staff.id.is_in(ids))
    if active_only:
        query = query.where(Staff.active == True)  # noqa: E712
    rows = await query
    if roles is not None:
        wanted = tuple(roles)
        rows = [r for r in rows if r["role"] in wanted]
    return sorted(rows, key=lambda r: (r["role"], r["name"]))


async def field_staff(site_id: Any) -> list[dict[str, Any]]:
    return await staff_of_site(site_id, FIELD_ROLES)


async def staff_names(ids: Iterable[Any]) -> dict[uuid.UUID, dict[str, Any]]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await Staff.select(Staff.id, Staff.name, Staff.role, Staff.username).where(Staff.id.is_in(list(wanted)))
    return {r["id"]: r for r in rows}


async def templates_of(site_id: Any) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await RoundTemplate.select(
        RoundTemplate.id, RoundTemplate.code, RoundTemplate.kind, RoundTemplate.role, RoundTemplate.name_zh,
        RoundTemplate.name_en, RoundTemplate.frequency, RoundTemplate.active, RoundTemplate.proof,
    ).where(RoundTemplate.site == site_id).output(load_json=True)
    return {r["id"]: r for r in rows}


async def checkpoints_of(site_id: Any) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await Checkpoint.select(Checkpoint.id, Checkpoint.name, Checkpoint.zone, Checkpoint.kind,
                                   Checkpoint.retired, Checkpoint.sort_order).where(Checkpoint.site == site_id)
    return {r["id"]: r for r in sorted(rows, key=lambda r: r["sort_order"])}


async def zones_of(site_id: Any) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await Zone.select(Zone.id, Zone.name, Zone.retired, Zone.sort_order).where(Zone.site == site_id)
    return {r["id"]: r for r in sorted(rows, key=lambda r: r["sort_order"])}


def proof_quality(visits: list[dict[str, Any]]) -> dict[str, Any]:
    """How well a round proved presence: every visit a verified QR scan, or some by code, or unproven."""
    counts = Counter()
    for v in visits:
        if v["proof"] == "qr" and v["proof_verified"]:
            counts["qr"] += 1
        elif v["proof"] == "code" and v["proof_verified"]:
            counts["code"] += 1
        else:
            counts["none"] += 1
    total = len(visits)
    if total == 0:
        level = "empty"
    elif counts["none"]:
        level = "unverified"
    elif counts["code"]:
        level = "code"
    else:
        level = "qr"
    return {"level": level, "total": total, "qr": counts["qr"], "code": counts["code"], "none": counts["none"]}


async def round_proofs(round_ids: Iterable[Any]) -> dict[uuid.UUID, dict[str, Any]]:
    """Proof quality of each round, from its visits."""
    ids = [r for r in set(round_ids) if r is not None]
    if not ids:
        return {}
    rows = await Visit.select(Visit.round, Visit.proof, Visit.proof_verified).where(Visit.round.is_in(ids))
    by_round: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in rows:
        by_round.setdefault(row["round"], []).append(row)
    return {rid: proof_quality(vs) for rid, vs in by_round.items()}
