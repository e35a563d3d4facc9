"""What every admin handler shares: the admin dependency, rendering, and showing a refused change."""

from __future__ import annotations

from typing import Any

from litestar.di import Provide
from litestar.response import Template

from server.admin.access import provide_admin
from server.admin.display import when
from server.errors import Conflict, Invalid

ADMIN_DEPENDENCIES = {"admin": Provide(provide_admin)}
# Refusals shown on the page the person was using (with what they typed); a
# missing record or a wrong role still gets the error page.
FORM_ERRORS = (Invalid, Conflict)


def render(page_file: str, admin: Any, status: int = 200, **context: Any) -> Template:
    return Template(template_name=f"admin/{page_file}", status_code=status,
                    context={"user": admin, "when": when, **context},
                    headers={"Cache-Control": "no-store"})


def error_status(exc: Exception) -> int:
    return getattr(exc, "status_code", 400)


def form_dict(form: Any) -> dict[str, Any]:
    """The posted values to put back into a form shown again with an error."""
    return {key: form.get(key) for key in form.keys()} if form is not None else {}
