"""QR posters: the secret of each checkpoint as a server-side SVG QR code (segno), for printing."""

from __future__ import annotations

from typing import Any

import segno
from markupsafe import Markup

from server.admin.access import admin_site
from server.errors import Invalid
from server.sites.services import poster_secrets
from server.sites.tables import Checkpoint, Zone
from server.staff.tables import Staff

LAYOUTS = ("a4", "labels")


def qr_svg(data: str) -> Markup:
    """An SVG QR code of `data` that scales to its box (viewBox, no fixed size).

    Always a full QR code (make_qr, never a Micro QR a phone scanner may not
    read), error correction M, and the standard 4-module quiet zone.
    """
    code = segno.make_qr(data, error="m")
    return Markup(code.svg_inline(omitsize=True, border=4, svgclass="qr", lineclass="qr-modules",
                                  dark="#000", light="#fff"))


async def sheet(admin: Staff, site_id: Any, layout: str, checkpoint_ids: list[Any]) -> dict[str, Any]:
    """Posters for the chosen (or all active) checkpoints of a site, in zone and checkpoint order."""
    site = await admin_site(admin, site_id)
    if layout not in LAYOUTS:
        raise Invalid("版式只能是 a4 或 labels / layout is a4 or labels", field="layout")
    query = Checkpoint.objects().where((Checkpoint.site == site.id) & (Checkpoint.retired == False))  # noqa: E712
    if checkpoint_ids:
        query = query.where(Checkpoint.id.is_in(checkpoint_ids))
    checkpoints = await query.order_by(Checkpoint.sort_order, Checkpoint.name)
    zones = {z.id: z for z in await Zone.objects().where(Zone.site == site.id)}
    checkpoints.sort(key=lambda c: (zones[c.zone].sort_order if c.zone in zones else 1 << 30, c.sort_order))
    posters, unreadable = [], []
    for cp in checkpoints:
        secrets = poster_secrets(cp)
        if secrets is None:
            # The secret was encrypted under another server key: only a new poster helps.
            unreadable.append(cp)
            continue
        secret, short_code = secrets
        posters.append({"checkpoint": cp, "zone": zones.get(cp.zone), "short_code": short_code,
                        "svg": qr_svg(secret)})
    return {"site": site, "layout": layout, "posters": posters, "unreadable": unreadable}
