"""Console pages: the site list, Today, evidence review and rounds (thin: parse, call a service, render)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar_htmx import HTMXRequest

from server.console import review, today
from server.console.access import console_site, console_sites
from server.console.ui import render
from server.console.workflow import mark_reviewed
from server.errors import Invalid
from server.pages import redirect
from server.staff.tables import Staff


def page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError as exc:
        raise Invalid("页码无效 / bad page number", code="bad_filter") from exc


class ConsoleController(Controller):
    path = "/console"
    request_class = HTMXRequest

    @get("/", name="console")
    async def index(self, request: HTMXRequest, user: NamedDependency[Staff]) -> Any:
        """The supervisor's landing page: straight to Today when they answer for one site."""
        sites = await console_sites(user)
        if len(sites) == 1:
            return redirect(f"/console/sites/{sites[0].id}/today")
        return render(request, "console/index.html", "console/index.html", user=user, sites=sites, clock=None)

    @get("/sites/{site_id:uuid}")
    async def site_home(self, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Any:
        await console_site(user, site_id)
        return redirect(f"/console/sites/{site_id}/today")

    @get("/sites/{site_id:uuid}/today")
    async def today(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Any:
        """Today at a glance; htmx polls it for the partial while the page is open."""
        clock = await console_site(user, site_id)
        data = await today.today(clock)
        return render(request, "console/today.html", "console/_today.html", user=user, clock=clock, data=data,
                      tab="today")

    @get("/sites/{site_id:uuid}/review")
    async def review(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                     kind: FromQuery[str] = "finding", page: FromQuery[str | None] = None,
                     pending: FromQuery[str | None] = None) -> Any:
        clock = await console_site(user, site_id)
        pending_only = pending == "1"
        result = await review.review_page(clock, kind, page_number(page), pending_only)
        return render(request, "console/review.html", "console/_review.html", user=user, clock=clock,
                      result=result, kind=kind, pending=pending_only, tab="review")

    @post("/sites/{site_id:uuid}/findings/{finding_id:uuid}/reviewed", status_code=303)
    async def reviewed(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                       finding_id: FromPath[uuid.UUID]) -> Any:
        clock = await console_site(user, site_id)
        await mark_reviewed(clock, finding_id)
        if request.htmx:
            return render(request, "console/_reviewed.html", "console/_reviewed.html", user=user, clock=clock,
                          finding_id=finding_id, status_code=200)
        return redirect(f"/console/sites/{site_id}/review?pending=1")

    @get("/sites/{site_id:uuid}/rounds/{round_id:uuid}")
    async def round_page(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                         round_id: FromPath[uuid.UUID]) -> Any:
        clock = await console_site(user, site_id)
        data = await review.round_detail(clock, round_id)
        return render(request, "console/round.html", "console/round.html", user=user, clock=clock, data=data,
                      tab="review")

    @get("/sites/{site_id:uuid}/goto/{record_type:str}/{record_id:uuid}")
    async def goto(self, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID], record_type: FromPath[str],
                   record_id: FromPath[uuid.UUID]) -> Any:
        """Where a record a photo belongs to is shown (the "possibly reused" flag links here)."""
        clock = await console_site(user, site_id)
        return redirect(await review.record_target(clock, record_type, record_id))
