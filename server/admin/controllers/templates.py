"""Admin pages for round templates: the site's list, a new template, and the template editor."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from server.admin import forms
from server.admin.controllers.common import ADMIN_DEPENDENCIES, FORM_ERRORS, error_status, form_dict, render
from server.admin.services import round_templates
from server.errors import Invalid
from server.pages import redirect
from server.staff.tables import Staff

NOTICES = ("created", "saved")


def schedule_fields(form: Any) -> dict[str, Any]:
    return round_templates.parse_schedule(
        name_zh=forms.text(form, "name_zh", required=True, label="模板名称"), name_en=forms.text(form, "name_en"),
        role=forms.text(form, "role", 16), kind=forms.text(form, "kind", 32) or "other",
        proof=forms.text(form, "proof", 8) or "qr", period=forms.text(form, "period", 16) or "day",
        every=forms.integer(form, "every", 1, 365, default=1), times=forms.integer(form, "times", 1, 48, default=1),
        window_start=forms.text(form, "window_start", 5) or "00:00",
        window_end=forms.text(form, "window_end", 5) or "24:00")


def item_rows(form: Any) -> list[dict[str, Any]]:
    """The editor's item rows in their new order (by the position typed in, then as listed)."""
    count = forms.integer(form, "item_count", 0, round_templates.MAX_ITEMS, default=0)
    rows = []
    for i in range(count):
        if forms.checked(form, f"item-{i}-remove"):
            continue
        checkpoint_id = forms.optional_id(form, f"item-{i}-checkpoint")
        if checkpoint_id is None:
            raise Invalid("点位缺失 / a checkpoint is missing")
        position = forms.integer(form, f"item-{i}-position", 0, 10_000, default=i + 1)
        rows.append((position, i, {"checkpoint_id": checkpoint_id,
                                   "checks_text": str(form.get(f"item-{i}-checks") or "")[:10_000]}))
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


class AdminTemplatesController(Controller):
    path = "/admin"
    dependencies = ADMIN_DEPENDENCIES

    async def _list(self, admin: Staff, site_id: Any, error: str | None = None, status: int = 200,
                    form: Any = None) -> Any:
        return render("templates.html", admin, status, **await round_templates.list_for_site(admin, site_id),
                      roles=round_templates.TEMPLATE_ROLES, kinds=round_templates.TEMPLATE_KINDS,
                      error=error, form=form_dict(form))

    @get("/sites/{site_id:uuid}/templates")
    async def list_templates(self, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        return await self._list(admin, site_id)

    @post("/sites/{site_id:uuid}/templates")
    async def create_template(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            template = await round_templates.create(admin, site_id, schedule_fields(form))
        except FORM_ERRORS as exc:
            return await self._list(admin, site_id, exc.reason, error_status(exc), form)
        return redirect(f"/admin/templates/{template.id}?ok=created")

    async def _edit(self, admin: Staff, template_id: Any, error: str | None = None, status: int = 200,
                    ok: str | None = None, form: Any = None) -> Any:
        return render("template.html", admin, status, **await round_templates.detail(admin, template_id),
                      error=error, notice=ok if ok in NOTICES else None, form=form_dict(form))

    @get("/templates/{template_id:uuid}")
    async def template_page(self, admin: NamedDependency[Staff], template_id: FromPath[UUID], ok: FromQuery[str | None] = None) -> Any:
        return await self._edit(admin, template_id, ok=ok)

    @post("/templates/{template_id:uuid}")
    async def update_template(self, request: Request, admin: NamedDependency[Staff], template_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await round_templates.update(admin, template_id, schedule_fields(form), forms.checked(form, "active"),
                                         item_rows(form), forms.optional_id(form, "add_checkpoint"))
        except FORM_ERRORS as exc:
            return await self._edit(admin, template_id, exc.reason, error_status(exc), form=form)
        return redirect(f"/admin/templates/{template_id}?ok=saved")
