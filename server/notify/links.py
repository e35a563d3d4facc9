"""Where a notification takes its reader: the console for supervisors, the field app for field staff."""

from __future__ import annotations

from typing import Any

from server.settings import get_settings
from server.staff.tables import SUPERVISOR_ROLES


def rectification(rect_id: Any, role: str) -> str:
    if role in SUPERVISOR_ROLES:
        return f"/console/rectifications/{rect_id}"
    return f"/app#/rect/{rect_id}"


def rectification_queue(site_id: Any) -> str:
    return f"/console/rectifications?site={site_id}"


def patrol_slots(site_id: Any) -> str:
    return f"/console/slots?site={site_id}"


def absolute(path: str) -> str:
    """A link for messages read outside the app (WeCom), on the address people reach the server at."""
    return get_settings().public_url.rstrip("/") + path
