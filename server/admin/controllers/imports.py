"""Admin pages for CSV import: upload, preview with per-row errors, then save all rows or none."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromQuery

from server.admin import forms
from server.admin.access import admin_sites
from server.admin.controllers.common import ADMIN_DEPENDENCIES, FORM_ERRORS, error_status, render
from server.admin.services import imports
from server.ids import parse_uuid
from server.pages import redirect
from server.staff.tables import Staff


class AdminImportController(Controller):
    path = "/admin/import"
    dependencies = ADMIN_DEPENDENCIES

    async def _upload(self, admin: Staff, kind: str, site: Any, error: str | None = None, status: int = 200) -> Any:
        return render("import.html", admin, status, sites=await admin_sites(admin), kind=kind,
                      site_id=site, error=error, kinds=imports.KINDS)

    @get("/")
    async def upload_page(self, admin: NamedDependency[Staff], kind: FromQuery[str] = "checkpoints",
                          site: FromQuery[str | None] = None) -> Any:
        return await self._upload(admin, kind if kind in imports.KINDS else "checkpoints", parse_uuid(site or ""))

    @post("/preview")
    async def preview(self, request: Request, admin: NamedDependency[Staff]) -> Any:
        form = await request.form()
        kind = forms.text(form, "kind", 16)
        site_id = parse_uuid(str(form.get("site") or ""))
        upload = form.get("file")
        try:
            raw = await upload.read() if isinstance(upload, UploadFile) else b""
            result = await imports.preview(admin, kind, site_id, raw)
        except (*FORM_ERRORS, imports.TooLarge) as exc:
            return await self._upload(admin, kind, site_id, exc.reason, error_status(exc))
        return render("import_preview.html", admin, 200 if result.ok else 422, preview=result)

    @post("/confirm")
    async def confirm(self, request: Request, admin: NamedDependency[Staff]) -> Any:
        form = await request.form()
        kind = forms.text(form, "kind", 16)
        site_id = parse_uuid(str(form.get("site") or ""))
        try:
            result, saved = await imports.confirm(admin, kind, site_id, str(form.get("payload") or ""))
        except FORM_ERRORS as exc:
            return await self._upload(admin, kind, site_id, exc.reason, error_status(exc))
        if not saved:
            return render("import_preview.html", admin, 422, preview=result)
        if kind == "checkpoints":
            return redirect(f"/admin/sites/{site_id}/checkpoints?ok=imported")
        return redirect(f"/admin/staff?site={site_id}&ok=imported")

