"""Admin pages for sites: the list, creating one, details, the WeCom robot, level and figures."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from server import standard
from server.admin import forms
from server.admin.controllers.common import ADMIN_DEPENDENCIES, FORM_ERRORS, error_status, form_dict, render
from server.admin.services import sites
from server.pages import redirect
from server.staff.tables import Staff

NOTICES = ("created", "saved", "level", "figures")
TIMEZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "UTC")


def notice(ok: str | None) -> str | None:
    return ok if ok in NOTICES else None


class AdminSitesController(Controller):
    path = "/admin"
    dependencies = ADMIN_DEPENDENCIES

    @get("/", name="admin_home")
    async def home(self, admin: NamedDependency[Staff]) -> Any:
        return redirect("/admin/sites")

    async def _list(self, admin: Staff, error: str | None = None, status: int = 200, form: Any = None) -> Any:
        return render("sites.html", admin, status, rows=await sites.overview(admin), levels=standard.standard()["levels"],
                      timezones=TIMEZONES, error=error, form=form_dict(form))

    @get("/sites")
    async def list_sites(self, admin: NamedDependency[Staff]) -> Any:
        return await self._list(admin)

    @post("/sites")
    async def create_site(self, request: Request, admin: NamedDependency[Staff]) -> Any:
        form = await request.form()
        try:
            site = await sites.create(
                admin, name=forms.text(form, "name", required=True, label="小区名称"),
                level=forms.integer(form, "level", 1, 3), timezone=forms.text(form, "timezone", 64) or "Asia/Shanghai",
                address=forms.text(form, "address", 500))
        except FORM_ERRORS as exc:
            return await self._list(admin, exc.reason, error_status(exc), form)
        return redirect(f"/admin/sites/{site.id}?ok=created")

    async def _site(self, admin: Staff, site_id: UUID, error: str | None = None, status: int = 200,
                    ok: str | None = None) -> Any:
        return render("site.html", admin, status, **await sites.page(admin, site_id),
                      levels=standard.standard()["levels"], timezones=TIMEZONES, error=error, notice=notice(ok))

    @get("/sites/{site_id:uuid}")
    async def site_page(self, admin: NamedDependency[Staff], site_id: FromPath[UUID], ok: FromQuery[str | None] = None) -> Any:
        return await self._site(admin, site_id, ok=ok)

    @post("/sites/{site_id:uuid}")
    async def update_site(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await sites.update_details(
                admin, site_id, name=forms.text(form, "name", required=True, label="小区名称"),
                address=forms.text(form, "address", 500), timezone=forms.text(form, "timezone", 64) or "Asia/Shanghai",
                webhook=forms.text(form, "wecom_webhook", 1000), clear_webhook=forms.checked(form, "clear_webhook"))
        except FORM_ERRORS as exc:
            return await self._site(admin, site_id, exc.reason, error_status(exc))
        return redirect(f"/admin/sites/{site_id}?ok=saved")

    @post("/sites/{site_id:uuid}/level")
    async def change_level(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await sites.change_level(admin, site_id, forms.integer(form, "level", 1, 3),
                                     regenerate=forms.checked(form, "regenerate"))
        except FORM_ERRORS as exc:
            return await self._site(admin, site_id, exc.reason, error_status(exc))
        return redirect(f"/admin/sites/{site_id}?ok=level")

    @post("/sites/{site_id:uuid}/figures")
    async def update_figures(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        posted = {key[4:]: str(form.get(key) or "") for key in form.keys() if key.startswith("fig:")}
        try:
            await sites.update_figures(admin, site_id, posted)
        except FORM_ERRORS as exc:
            return await self._site(admin, site_id, exc.reason, error_status(exc))
        return redirect(f"/admin/sites/{site_id}?ok=figures")
