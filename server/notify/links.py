"""Where a notification takes its reader: the console for supervisors, the field app for field staff.

These are the console's and the field app's own addresses (server/console,
web/static/app/main.js routes); keep them in step when either moves.
"""

from __future__ import annotations

from typing import Any

from server.settings import get_settings
from server.staff.tables import SUPERVISOR_ROLES


def rectification(rect_id: Any, role: str, site_id: Any) -> str:
    if role in SUPERVISOR_ROLES:
        return f"/console/sites/{site_id}/rectifications/{rect_id}"
    return f"/app#/rect/{rect_id}"


def findings_to_review(site_id: Any) -> str:
    """A digest of new findings opens the console's evidence review, unreviewed ones first."""
    return f"/console/sites/{site_id}/review?pending=1"


def missed_slots(site_id: Any) -> str:
    return f"/console/sites/{site_id}/logs/slots?status=missed"


def absolute(path: str) -> str:
    """A link for messages read outside the app (WeCom), on the address people reach the server at."""
    return get_settings().public_url.rstrip("/") + path
