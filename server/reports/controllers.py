"""The compliance report page (printable on A4; the chart is server-drawn SVG)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar_htmx import HTMXRequest
from markupsafe import Markup

from server import i18n
from server.console.access import console_site
from server.console.ui import render
from server.pages import request_language
from server.reports.chart import coverage_svg
from server.reports.compliance import compliance_report, parse_month
from server.staff.tables import Staff


class ReportController(Controller):
    path = "/console/sites/{site_id:uuid}/report"
    request_class = HTMXRequest

    @get("/")
    async def report(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                     month: FromQuery[str | None] = None) -> Any:
        clock = await console_site(user, site_id)
        year, mon = parse_month(month, clock)
        report = await compliance_report(clock, year, mon)
        title = i18n.translate(request_language(request), "console.report.chart_title")
        chart = Markup(coverage_svg(report.daily, report.patrol.target, title))
        return render(request, "console/report.html", "console/_report.html", user=user, clock=clock,
                      report=report, chart=chart, tab="report")
