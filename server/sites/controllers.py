"""JSON views of the caller's sites (scoped: another site's objects are 404)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from server.pages import api_user
from server.sites import queries
from server.staff.services import require_site, site_ids_of
from server.staff.tables import Staff


class SitesApi(Controller):
    path = "/api"

    @get("/me")
    async def me(self, request: Request) -> dict[str, Any]:
        """Who is calling, with their role and sites."""
        user: Staff = await api_user(request)
        return {"id": str(user.id), "name": user.name, "role": user.role, "language": user.language,
                "site_ids": [str(s) for s in await site_ids_of(user.id)]}

    @get("/sites")
    async def my_sites(self, request: Request) -> list[dict[str, Any]]:
        user: Staff = await api_user(request)
        return await queries.sites_of(user.id)

    @get("/sites/{site_id:uuid}")
    async def site_detail(self, request: Request, site_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        """One site with its zones, checkpoints (hashes only, never poster secrets) and figures."""
        user: Staff = await api_user(request)
        await require_site(user, site_id)
        return await queries.site_detail(site_id)
