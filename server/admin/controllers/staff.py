"""Admin pages for staff: the list, a new account, editing, password reset, deactivation, devices."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from server.admin import forms
from server.admin.controllers.common import ADMIN_DEPENDENCIES, FORM_ERRORS, error_status, form_dict, render
from server.admin.services import staff
from server.ids import parse_uuid
from server.pages import redirect
from server.staff.tables import Staff

NOTICES = ("created", "saved", "password", "activated", "deactivated", "device", "imported")


class AdminStaffController(Controller):
    path = "/admin/staff"
    dependencies = ADMIN_DEPENDENCIES

    async def _list(self, admin: Staff, site: str | None = None, error: str | None = None, status: int = 200,
                    form: Any = None, ok: str | None = None) -> Any:
        site_id = parse_uuid(site) if site else None
        return render("staff_list.html", admin, status, **await staff.listing(admin, site_id),
                      site_filter=site_id, error=error, form=form_dict(form),
                      form_sites=set(forms.ids(form, "sites")) if form is not None else set(),
                      notice=ok if ok in NOTICES else None)

    @get("/")
    async def list_staff(self, admin: NamedDependency[Staff], site: FromQuery[str | None] = None, ok: FromQuery[str | None] = None) -> Any:
        return await self._list(admin, site, ok=ok)

    @post("/")
    async def create_staff(self, request: Request, admin: NamedDependency[Staff]) -> Any:
        form = await request.form()
        try:
            person = await staff.create(
                admin, username=forms.text(form, "username", 64, required=True, label="用户名"),
                name=forms.text(form, "name", required=True, label="姓名"), role=forms.text(form, "role", 16),
                password=str(form.get("password") or ""), phone=forms.text(form, "phone", 32),
                language=forms.text(form, "language", 8), site_ids=forms.ids(form, "sites"))
        except FORM_ERRORS as exc:
            return await self._list(admin, error=exc.reason, status=error_status(exc), form=form)
        return redirect(f"/admin/staff/{person.id}?ok=created")

    async def _person(self, admin: Staff, staff_id: Any, error: str | None = None, status: int = 200,
                      ok: str | None = None) -> Any:
        return render("staff.html", admin, status, **await staff.detail(admin, staff_id), error=error,
                      notice=ok if ok in NOTICES else None)

    @get("/{staff_id:uuid}")
    async def person_page(self, admin: NamedDependency[Staff], staff_id: FromPath[UUID], ok: FromQuery[str | None] = None) -> Any:
        return await self._person(admin, staff_id, ok=ok)

    @post("/{staff_id:uuid}")
    async def update_person(self, request: Request, admin: NamedDependency[Staff], staff_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await staff.update(
                admin, staff_id, name=forms.text(form, "name", required=True, label="姓名"),
                role=forms.text(form, "role", 16), phone=forms.text(form, "phone", 32),
                language=forms.text(form, "language", 8), site_ids=forms.ids(form, "sites"))
        except FORM_ERRORS as exc:
            return await self._person(admin, staff_id, exc.reason, error_status(exc))
        return redirect(f"/admin/staff/{staff_id}?ok=saved")

    @post("/{staff_id:uuid}/password")
    async def reset_password(self, request: Request, admin: NamedDependency[Staff], staff_id: FromPath[UUID]) -> Any:
        form = await request.form()
        try:
            await staff.reset_password(admin, staff_id, str(form.get("password") or ""))
        except FORM_ERRORS as exc:
            return await self._person(admin, staff_id, exc.reason, error_status(exc))
        return redirect(f"/admin/staff/{staff_id}?ok=password")

    @post("/{staff_id:uuid}/active")
    async def set_active(self, request: Request, admin: NamedDependency[Staff], staff_id: FromPath[UUID]) -> Any:
        form = await request.form()
        active = forms.checked(form, "active")
        try:
            await staff.set_active(admin, staff_id, active)
        except FORM_ERRORS as exc:
            return await self._person(admin, staff_id, exc.reason, error_status(exc))
        return redirect(f"/admin/staff/{staff_id}?ok={'activated' if active else 'deactivated'}")

    @post("/{staff_id:uuid}/devices/{token_id:uuid}/logout")
    async def logout_device(self, admin: NamedDependency[Staff], staff_id: FromPath[UUID], token_id: FromPath[UUID]) -> Any:
        await staff.revoke_device(admin, staff_id, token_id)
        return redirect(f"/admin/staff/{staff_id}?ok=device")
