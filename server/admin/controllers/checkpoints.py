"""Admin pages for zones, checkpoints, their QR posters and the lighting register."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from server.admin import forms
from server.admin.controllers.common import ADMIN_DEPENDENCIES, FORM_ERRORS, error_status, form_dict, render
from server.admin.services import checkpoints, lights, posters
from server.pages import redirect
from server.staff.tables import Staff

NOTICES = ("zone", "checkpoint", "saved", "moved", "retired", "restored", "poster", "light", "imported")


def notice(ok: str | None) -> str | None:
    return ok if ok in NOTICES else None


class AdminCheckpointsController(Controller):
    path = "/admin"
    dependencies = ADMIN_DEPENDENCIES

    async def _list(self, admin: Staff, site_id: Any, error: str | None = None, status: int = 200,
                    form: Any = None, ok: str | None = None, retired: bool = False) -> Any:
        return render("checkpoints.html", admin, status, **await checkpoints.listing(admin, site_id, retired),
                      error=error, form=form_dict(form), notice=notice(ok), show_retired=retired)

    @get("/sites/{site_id:uuid}/checkpoints")
    async def list_checkpoints(self, admin: NamedDependency[Staff], site_id: FromPath[UUID], ok: FromQuery[str | None] = None,
                               retired: FromQuery[int] = 0) -> Any:
        return await self._list(admin, site_id, ok=ok, retired=bool(retired))

    @post("/sites/{site_id:uuid}/zones")
    async def add_zone(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await checkpoints.add_zone(admin, site_id, forms.text(form, "name", required=True, label="区域名称"))
        except FORM_ERRORS as exc:
            return await self._list(admin, site_id, exc.reason, error_status(exc), form)
        return redirect(f"/admin/sites/{site_id}/checkpoints?ok=zone")

    @post("/zones/{zone_id:uuid}")
    async def rename_zone(self, request: Request, admin: NamedDependency[Staff], zone_id: FromPath[UUID]) -> Any:
        form = await request.form()
        await checkpoints.zone_of(admin, zone_id)  # another site's zone is 404 before its form is judged
        zone = await checkpoints.rename_zone(admin, zone_id, forms.text(form, "name", required=True, label="区域名称"))
        return redirect(f"/admin/sites/{zone.site}/checkpoints?ok=saved")

    @post("/zones/{zone_id:uuid}/move")
    async def move_zone(self, request: Request, admin: NamedDependency[Staff], zone_id: FromPath[UUID]) -> Any:
        form = await request.form()
        # The service accepts only up/down, after the access check (a parse here would answer first).
        zone = await checkpoints.move_zone(admin, zone_id, str(form.get("direction") or "").strip())
        return redirect(f"/admin/sites/{zone.site}/checkpoints?ok=moved")

    @post("/zones/{zone_id:uuid}/retire")
    async def retire_zone(self, request: Request, admin: NamedDependency[Staff], zone_id: FromPath[UUID]) -> Any:
        form = await request.form()
        retired = forms.checked(form, "retired")
        zone = await checkpoints.set_zone_retired(admin, zone_id, retired)
        return redirect(f"/admin/sites/{zone.site}/checkpoints?ok={'retired' if retired else 'restored'}")

    @post("/sites/{site_id:uuid}/checkpoints")
    async def add_checkpoint(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            lat, lng = forms.position(form)
            await checkpoints.add_checkpoint(
                admin, site_id, forms.text(form, "name", required=True, label="点位名称"),
                forms.text(form, "kind", 40), forms.optional_id(form, "zone"), lat, lng)
        except FORM_ERRORS as exc:
            return await self._list(admin, site_id, exc.reason, error_status(exc), form)
        return redirect(f"/admin/sites/{site_id}/checkpoints?ok=checkpoint")

    async def _checkpoint(self, admin: Staff, cp_id: Any, error: str | None = None, status: int = 200,
                          ok: str | None = None) -> Any:
        return render("checkpoint.html", admin, status, **await checkpoints.checkpoint(admin, cp_id),
                      error=error, notice=notice(ok))

    @get("/checkpoints/{cp_id:uuid}")
    async def checkpoint_page(self, admin: NamedDependency[Staff], cp_id: FromPath[UUID], ok: FromQuery[str | None] = None) -> Any:
        return await self._checkpoint(admin, cp_id, ok=ok)

    @post("/checkpoints/{cp_id:uuid}")
    async def update_checkpoint(self, request: Request, admin: NamedDependency[Staff], cp_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            lat, lng = forms.position(form)
            await checkpoints.update_checkpoint(
                admin, cp_id, forms.text(form, "name", required=True, label="点位名称"), forms.text(form, "kind", 40),
                forms.optional_id(form, "zone"), lat, lng)
        except FORM_ERRORS as exc:
            return await self._checkpoint(admin, cp_id, exc.reason, error_status(exc))
        return redirect(f"/admin/checkpoints/{cp_id}?ok=saved")

    @post("/checkpoints/{cp_id:uuid}/move")
    async def move_checkpoint(self, request: Request, admin: NamedDependency[Staff], cp_id: FromPath[UUID]) -> Any:
        form = await request.form()
        cp = await checkpoints.move_checkpoint(admin, cp_id, str(form.get("direction") or "").strip())
        return redirect(f"/admin/sites/{cp.site}/checkpoints?ok=moved")

    @post("/checkpoints/{cp_id:uuid}/retire")
    async def retire_checkpoint(self, request: Request, admin: NamedDependency[Staff], cp_id: FromPath[UUID]) -> Any:
        form = await request.form()
        retired = forms.checked(form, "retired")
        cp = await checkpoints.set_checkpoint_retired(admin, cp_id, retired)
        return redirect(f"/admin/sites/{cp.site}/checkpoints?ok={'retired' if retired else 'restored'}")

    @post("/checkpoints/{cp_id:uuid}/poster")
    async def new_poster(self, admin: NamedDependency[Staff], cp_id: FromPath[UUID]) -> Any:
        await checkpoints.regenerate_poster(admin, cp_id)
        return redirect(f"/admin/checkpoints/{cp_id}?ok=poster")

    @get("/sites/{site_id:uuid}/posters")
    async def poster_sheet(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID],
                           layout: FromQuery[str] = "a4") -> Any:
        ids = forms.ids(request.query_params, "checkpoint")
        return render("posters.html", admin, **await posters.sheet(admin, site_id, layout, ids))

    async def _lights(self, admin: Staff, site_id: Any, error: str | None = None, status: int = 200,
                      form: Any = None, ok: str | None = None) -> Any:
        return render("lights.html", admin, status, **await lights.register(admin, site_id),
                      error=error, form=form_dict(form), notice=notice(ok))

    @get("/sites/{site_id:uuid}/lights")
    async def lights_page(self, admin: NamedDependency[Staff], site_id: FromPath[UUID], ok: FromQuery[str | None] = None) -> Any:
        return await self._lights(admin, site_id, ok=ok)

    @post("/sites/{site_id:uuid}/lights")
    async def add_light(self, request: Request, admin: NamedDependency[Staff], site_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await lights.add(admin, site_id, forms.optional_id(form, "zone"), forms.text(form, "label"),
                             forms.integer(form, "count", 1, lights.MAX_COUNT))
        except FORM_ERRORS as exc:
            return await self._lights(admin, site_id, exc.reason, error_status(exc), form)
        return redirect(f"/admin/sites/{site_id}/lights?ok=light")

    @post("/lights/{light_id:uuid}")
    async def update_light(self, request: Request, admin: NamedDependency[Staff], light_id: FromPath[UUID]) -> Any:
        form = await request.form()
        await lights.light_of(admin, light_id)  # another site's light is 404 before its form is judged
        action = forms.text(form, "action", 16)
        if action in ("retire", "restore"):
            light = await lights.set_retired(admin, light_id, action == "retire")
        else:
            light = await lights.update(admin, light_id, forms.optional_id(form, "zone"), forms.text(form, "label"),
                                        forms.integer(form, "count", 1, lights.MAX_COUNT))
        return redirect(f"/admin/sites/{light.site}/lights?ok=saved")
