"""Reception (服务接待): residents' repair requests and complaints, and their follow-up calls."""

from __future__ import annotations

from typing import Any

from server.console.access import SiteClock
from server.console.lookups import staff_names
from server.rectifications.tables import Rectification


async def recent_requests(clock: SiteClock, limit: int = 30) -> list[dict[str, Any]]:
    """The latest requests logged at reception, newest first, with who holds them."""
    rows = await Rectification.select(
        Rectification.id, Rectification.category, Rectification.severity, Rectification.state,
        Rectification.due_at, Rectification.created_at, Rectification.resident_unit, Rectification.resident_contact,
        Rectification.note, Rectification.assignee, Rectification.followup_at, Rectification.followup_outcome,
    ).where((Rectification.site == clock.site.id) & (Rectification.source == "reception")).order_by(
        Rectification.created_at, ascending=False).limit(limit)
    names = await staff_names(r["assignee"] for r in rows)
    for r in rows:
        r["assignee"] = names.get(r["assignee"])
        r["needs_followup"] = r["state"] == "verified" and r["followup_at"] is None
    return rows
