"""Helpers for the administration tests: an admin's browser-like client, form posts with CSRF, sync calls."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from conftest import DEMO_PASSWORD, csrf_of, login


def as_admin(client: Any, env: dict[str, Any]) -> Any:
    """The client logged in as the site's own admin."""
    response = login(client, env["users"]["admin"].username, DEMO_PASSWORD)
    assert response.status_code == 303, response.text
    return client


def csrf(client: Any) -> str:
    return client.cookies.get("xj_csrf") or csrf_of(client, "/login")


def post(client: Any, path: str, data: dict[str, Any] | None = None, files: Any = None,
         follow: bool = False) -> Any:
    """A form post as the page would send it (with the CSRF field)."""
    body = {"_csrf_token": csrf(client), **(data or {})}
    return client.post(path, data=body, files=files, follow_redirects=follow)


def created_id(response: Any, prefix: str) -> str:
    """The id in the Location of a redirect such as /admin/sites/<id>?ok=created."""
    assert response.status_code == 303, (response.status_code, response.text[:500])
    match = re.search(prefix + r"/([0-9a-f-]{36})", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def page_error(response: Any) -> str:
    """The refusal shown on a page that was sent back with an error."""
    match = re.search(r"data-error>([^<]*)<", response.text)
    return match.group(1) if match else ""


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def sync_push(client: Any, token: str, ops: list[dict[str, Any]]) -> Any:
    from server.ids import uuid7

    body = {"device_id": "admin-test-phone", "device_time": iso_now(),
            "ops": [{"op_id": str(uuid7()), "at": iso_now(), **op} for op in ops]}
    return client.post("/sync/push", json=body, headers={"Authorization": f"Bearer {token}"})
