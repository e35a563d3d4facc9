"""Console logs: inspection, rectifications and patrol slots, with paging and CSV export."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar_htmx import HTMXRequest

from server.console import logs
from server.console.access import console_site
from server.console.controllers import page_number
from server.console.filters import SLOT_STATUSES, parse_filter
from server.console.lookups import checkpoints_of, staff_of_site, templates_of, zones_of
from server.console.ui import render
from server.errors import Invalid
from server.pages import request_language
from server.reports.compliance import parse_month
from server.staff.tables import Staff


def _csv_response(body: str, filename: str) -> Response[bytes]:
    return Response(content=body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


async def _choices(site_id: Any) -> dict[str, Any]:
    """What the filter form offers: this site's zones, checkpoints, people and round templates."""
    return {"zones": await zones_of(site_id), "checkpoints": await checkpoints_of(site_id),
            "people": await staff_of_site(site_id, active_only=False), "templates": await templates_of(site_id)}


class LogController(Controller):
    path = "/console/sites/{site_id:uuid}/logs"
    request_class = HTMXRequest

    @get("/inspection")
    async def inspection(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Any:
        clock = await console_site(user, site_id)
        f = parse_filter(request.query_params, "inspection")
        result = await logs.inspection_log(clock, f)
        return render(request, "console/log_inspection.html", "console/_log_inspection.html", user=user,
                      clock=clock, f=f, result=result, choices=await _choices(site_id), tab="inspection")

    @get("/inspection.csv")
    async def inspection_csv(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Response[bytes]:
        clock = await console_site(user, site_id)
        f = parse_filter(request.query_params, "inspection")
        body = await logs.inspection_csv(clock, f, request_language(request))
        return _csv_response(body, logs.export_name("inspection", clock, f))

    @get("/rectifications")
    async def rectifications(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Any:
        clock = await console_site(user, site_id)
        f = parse_filter(request.query_params, "rectifications")
        result = await logs.rect_log(clock, f)
        return render(request, "console/log_rects.html", "console/_log_rects.html", user=user, clock=clock, f=f,
                      result=result, choices=await _choices(site_id), tab="rects")

    @get("/rectifications.csv")
    async def rectifications_csv(self, request: HTMXRequest, user: NamedDependency[Staff],
                                 site_id: FromPath[uuid.UUID]) -> Response[bytes]:
        clock = await console_site(user, site_id)
        f = parse_filter(request.query_params, "rectifications")
        body = await logs.rect_csv(clock, f, request_language(request))
        return _csv_response(body, logs.export_name("rectifications", clock, f))

    @get("/slots")
    async def slots(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                    month: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                    page: FromQuery[str | None] = None) -> Any:
        """The patrol windows of a month (the records behind the report's patrol coverage)."""
        clock = await console_site(user, site_id)
        year, mon = parse_month(month, clock)
        if status and status not in SLOT_STATUSES:
            raise Invalid("筛选条件无效 / bad filter: status", code="bad_filter")
        result = await logs.slot_log(clock, year, mon, status or "", page_number(page))
        return render(request, "console/log_slots.html", "console/_log_slots.html", user=user, clock=clock,
                      result=result, month=f"{year:04d}-{mon:02d}", status=status or "", tab="report")

    @get("/slots.csv")
    async def slots_csv(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                        month: FromQuery[str | None] = None, status: FromQuery[str | None] = None) -> Response[bytes]:
        """The same windows as the slot log, as a spreadsheet."""
        clock = await console_site(user, site_id)
        year, mon = parse_month(month, clock)
        if status and status not in SLOT_STATUSES:
            raise Invalid("筛选条件无效 / bad filter: status", code="bad_filter")
        body = await logs.slot_csv(clock, year, mon, status or "", request_language(request))
        return _csv_response(body, f"xunjian-slots-{year:04d}-{mon:02d}.csv")
