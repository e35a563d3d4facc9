"""Read models of sites for JSON and pages."""

from __future__ import annotations

from typing import Any

from server.staff.services import site_ids_of
from server.sites.tables import Checkpoint, Site, SiteFigure, Zone


def site_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "level": row["level"], "timezone": row["timezone"]}


def checkpoint_json(row: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint as phones and the API see it: hashes of the poster secrets, never the secrets."""
    out = {k: v for k, v in row.items() if k != "zone"}
    out["id"] = str(row["id"])
    out["zone_id"] = str(row["zone"]) if row.get("zone") else None
    return out


async def sites_of(staff_id: Any) -> list[dict[str, Any]]:
    site_ids = await site_ids_of(staff_id)
    if not site_ids:
        return []
    rows = await Site.select(Site.id, Site.name, Site.level, Site.timezone).where(
        Site.id.is_in(site_ids)).order_by(Site.name)
    return [site_json(r) for r in rows]


async def site_detail(site_id: Any) -> dict[str, Any]:
    site = await Site.select(Site.id, Site.name, Site.level, Site.timezone, Site.address).where(
        Site.id == site_id).first()
    zones = await Zone.select(Zone.id, Zone.name, Zone.retired).where(Zone.site == site_id).order_by(Zone.sort_order)
    checkpoints = await Checkpoint.select(
        Checkpoint.id, Checkpoint.zone, Checkpoint.name, Checkpoint.kind, Checkpoint.qr_hash,
        Checkpoint.code_hash, Checkpoint.lat, Checkpoint.lng, Checkpoint.retired,
    ).where(Checkpoint.site == site_id).order_by(Checkpoint.sort_order)
    figures = await SiteFigure.select(SiteFigure.code, SiteFigure.kind, SiteFigure.value,
                                      SiteFigure.default_value, SiteFigure.extrapolated).where(
        SiteFigure.site == site_id).order_by(SiteFigure.code)
    return {
        **site_json(site), "address": site["address"],
        "zones": [{"id": str(z["id"]), "name": z["name"], "retired": z["retired"]} for z in zones],
        "checkpoints": [checkpoint_json(c) for c in checkpoints],
        "figures": figures,
    }
