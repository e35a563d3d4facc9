"""Rendering helpers shared by every HTML handler: language, templates, the logged-in person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import pass_context
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from server import i18n
from server.errors import Unauthorized
from server.settings import get_settings
from server.staff.auth import session_user
from server.staff.tables import Staff

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SESSION_COOKIE = "xj_session"
LANGUAGE_COOKIE = "xj_lang"


def request_language(request: Request) -> str:
    """The person's own choice, else the language cookie, else the configured default (zh-CN)."""
    user = request.state.get("user")
    if user is not None and user.language:
        return i18n.normalise(user.language)
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie:
        return i18n.normalise(cookie)
    return i18n.normalise(get_settings().default_language)


@pass_context
def _t(context: Any, key: str, **params: Any) -> str:
    request = context.get("request")
    language = request_language(request) if request is not None else i18n.DEFAULT_LANGUAGE
    return i18n.translate(language, key, **params)


@pass_context
def _lang(context: Any) -> str:
    request = context.get("request")
    return request_language(request) if request is not None else i18n.DEFAULT_LANGUAGE


def _configure(engine: JinjaTemplateEngine) -> None:
    engine.engine.globals.update(t=_t, lang=_lang)
    engine.engine.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}


def template_config() -> TemplateConfig:
    return TemplateConfig(
        directory=WEB_DIR / "templates", engine=JinjaTemplateEngine, engine_callback=_configure,
    )


async def optional_user(request: Request) -> Staff | None:
    """The person logged in through the session cookie, if any (kept in request.state)."""
    if "user" not in request.state:
        request.state.user = await session_user(request.cookies.get(SESSION_COOKIE))
    return request.state.user


async def provide_user(request: Request) -> Staff:
    """The logged-in person; pages without one send the browser to the login page."""
    user = await optional_user(request)
    if user is None:
        raise Unauthorized("请先登录 / log in first", code="login_required")
    return user


def page(template: str, **context: Any) -> Template:
    return Template(template_name=template, context=context)


def home_url(user: Staff) -> str:
    """Where a person lands after login: the console for supervisors, the field app for field staff."""
    return "/console" if user.role in ("supervisor", "admin") else "/app"


def redirect(url: str) -> Redirect:
    return Redirect(path=url, status_code=303)


async def api_user(request: Request) -> Staff:
    """The caller of a JSON endpoint: a device token (Bearer) or the browser session."""
    from server.staff.auth import device_user

    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        auth = await device_user(header[7:].strip())
        request.state.user = auth.staff
        return auth.staff
    return await provide_user(request)
