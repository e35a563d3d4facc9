"""JSON views of the caller's sites (scoped: another site's objects are 404)."""

from __future__ import annotations

import uuid
from typing import TypedDict

from litestar import Controller, Request, get
from litestar.params import FromPath

from server.openapi import error_responses
from server.pages import api_user
from server.sites import queries
from server.staff.services import require_site, site_ids_of
from server.staff.tables import Staff


class Me(TypedDict):
    id: str
    name: str
    role: str
    language: str
    site_ids: list[str]


class SiteSummary(TypedDict):
    id: str
    name: str
    level: int
    timezone: str


class ZoneSummary(TypedDict):
    id: str
    name: str
    retired: bool


class CheckpointSummary(TypedDict):
    """Hashes of the poster secrets, never the secrets."""

    id: str
    zone_id: str | None
    name: str
    kind: str
    qr_hash: str
    code_hash: str
    lat: float | None
    lng: float | None
    retired: bool


class Figure(TypedDict):
    code: str
    kind: str
    value: float
    default_value: float
    extrapolated: bool


class SiteDetail(SiteSummary):
    address: str
    zones: list[ZoneSummary]
    checkpoints: list[CheckpointSummary]
    figures: list[Figure]


class SitesApi(Controller):
    path = "/api"

    @get("/me", responses=error_responses(401))
    async def me(self, request: Request) -> Me:
        """Who is calling, with their role and sites."""
        user: Staff = await api_user(request)
        return {"id": str(user.id), "name": user.name, "role": user.role, "language": user.language,
                "site_ids": [str(s) for s in await site_ids_of(user.id)]}

    @get("/sites", responses=error_responses(401))
    async def my_sites(self, request: Request) -> list[SiteSummary]:
        user: Staff = await api_user(request)
        return await queries.sites_of(user.id)

    @get("/sites/{site_id:uuid}", responses=error_responses(400, 401, 404))
    async def site_detail(self, request: Request, site_id: FromPath[uuid.UUID]) -> SiteDetail:
        """One site with its zones, checkpoints (hashes only, never poster secrets) and figures."""
        user: Staff = await api_user(request)
        await require_site(user, site_id)
        return await queries.site_detail(site_id)
