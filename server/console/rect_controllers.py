"""Console pages of the rectification workflow and reception (thin: parse, call a service, render)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar_htmx import HTMXRequest
from msgspec import Struct

from server.console import workflow
from server.console.access import SiteClock, console_site
from server.console.lookups import field_staff
from server.console.reception import recent_requests
from server.console.ui import render
from server.errors import AppError, Invalid
from server.pages import redirect
from server.staff.tables import Staff

STEP_ACTIONS = workflow.CONSOLE_ACTIONS + ("deadline", "followup")


class StepForm(Struct):
    assignee: str = ""
    note: str = ""
    due_at: str = ""
    outcome: str = ""


class RequestForm(Struct):
    category: str = ""
    severity: str = "normal"
    unit: str = ""
    contact: str = ""
    channel: str = "phone"
    note: str = ""
    assignee: str = ""
    agreed_at: str = ""


async def _detail(request: HTMXRequest, user: Staff, clock: SiteClock, rect_id: uuid.UUID, *,
                  error: AppError | None = None, notice: str = "") -> Any:
    data = await workflow.rect_detail(clock, rect_id)
    return render(request, "console/rect.html", "console/_rect.html", user=user, clock=clock, data=data,
                  error=error, notice=notice, tab="rects", status_code=error.status_code if error else 200)


class RectificationController(Controller):
    path = "/console/sites/{site_id:uuid}"
    request_class = HTMXRequest

    @get("/rectifications/{rect_id:uuid}")
    async def detail(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                     rect_id: FromPath[uuid.UUID], notice: FromQuery[str | None] = None) -> Any:
        """A rectification: before and after photos, the timeline, and the supervisor's actions."""
        clock = await console_site(user, site_id)
        return await _detail(request, user, clock, rect_id, notice="conflict" if notice == "conflict" else "")

    @post("/rectifications/{rect_id:uuid}/{action:str}", status_code=303)
    async def step(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                   rect_id: FromPath[uuid.UUID], action: FromPath[str], data: URLEncodedBody[StepForm]) -> Any:
        """One action on a rectification; htmx gets the refreshed detail, a plain form a redirect to it."""
        clock = await console_site(user, site_id)
        notice = ""
        try:
            if action == "deadline":
                await workflow.change_deadline(clock, user, rect_id, data.due_at, data.note)
            elif action == "followup":
                await workflow.record_followup(clock, user, rect_id, data.outcome)
            elif action in workflow.CONSOLE_ACTIONS:
                outcome = await workflow.act(clock, user, rect_id, action, assignee=data.assignee, note=data.note)
                notice = "conflict" if outcome.status == "conflict" else ""
            else:
                raise Invalid(f"未知的操作 / unknown action: {action}", code="invalid")
        except AppError as exc:
            # htmx shows the error inside the page; a plain form gets the error page (same status).
            if not request.htmx or exc.status_code == 404:
                raise
            return await _detail(request, user, clock, rect_id, error=exc)
        if request.htmx:
            return await _detail(request, user, clock, rect_id, notice=notice)
        suffix = "?notice=conflict" if notice else ""
        return redirect(f"/console/sites/{site_id}/rectifications/{rect_id}{suffix}")

    @get("/reception")
    async def reception(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID]) -> Any:
        """Log a resident's repair request or complaint; recent ones with their follow-up."""
        clock = await console_site(user, site_id)
        return render(request, "console/reception.html", "console/_reception.html", user=user, clock=clock,
                      recent=await recent_requests(clock), staff=await field_staff(site_id), form=RequestForm(),
                      error=None, tab="reception")

    @post("/reception", status_code=303)
    async def log_request(self, request: HTMXRequest, user: NamedDependency[Staff], site_id: FromPath[uuid.UUID],
                          data: URLEncodedBody[RequestForm]) -> Any:
        clock = await console_site(user, site_id)
        try:
            rect = await workflow.open_request(
                clock, user, category=data.category, severity=data.severity, unit=data.unit, contact=data.contact,
                channel=data.channel, note=data.note, assignee=data.assignee, agreed_at=data.agreed_at)
        except AppError as exc:
            if exc.status_code == 404:
                raise
            return render(request, "console/reception.html", "console/_reception.html", user=user, clock=clock,
                          recent=await recent_requests(clock), staff=await field_staff(site_id), form=data,
                          error=exc, tab="reception", status_code=exc.status_code)
        return redirect(f"/console/sites/{site_id}/rectifications/{rect.id}")
