"""The audit page: every administration change, filterable by site, person, action and day."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from server.admin.controllers.common import ADMIN_DEPENDENCIES, render
from server.admin.services import audit
from server.ids import parse_uuid
from server.staff.tables import Staff


class AdminAuditController(Controller):
    path = "/admin/audit"
    dependencies = ADMIN_DEPENDENCIES

    @get("/")
    async def audit_page(self, admin: NamedDependency[Staff], site: FromQuery[str | None] = None, actor: FromQuery[str] = "",
                         action: FromQuery[str] = "", since: FromQuery[str] = "", until: FromQuery[str] = "",
                         page: FromQuery[int] = 1) -> Any:
        flt = audit.AuditFilter(site_id=parse_uuid(site or ""), actor=actor[:64], action=action[:64],
                                since=audit.parse_day(since), until=audit.parse_day(until), page=max(1, min(page, 10_000)))
        return render("audit.html", admin, **await audit.entries(admin, flt), filter=flt)
