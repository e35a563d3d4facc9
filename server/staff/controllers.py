"""Login and logout pages, the language switch, and device login for the field app."""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import urlparse

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.response import Template
from msgspec import Struct

from server import i18n
from server.errors import Invalid, RateLimited, Unauthorized
from server.openapi import error_responses
from server.pages import LANGUAGE_COOKIE, SESSION_COOKIE, optional_user, page, redirect, home_url
from server.settings import get_settings
from server.staff.auth import authenticate, create_session, end_session, issue_device_token, now
from server.staff.services import site_ids_of


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return None
    return target


def session_cookie(token: str, max_age: int | None = None) -> Cookie:
    settings = get_settings()
    return Cookie(key=SESSION_COOKIE, value=token, httponly=True, secure=settings.cookies_secure,
                  samesite="lax", path="/", max_age=max_age)


class LoginForm(Struct):
    username: str = ""
    password: str = ""
    next: str = ""


class DeviceLogin(Struct):
    device_id: str
    username: str = ""
    password: str = ""
    device_name: str = ""


class DeviceUser(TypedDict):
    id: str
    name: str
    role: str
    site_ids: list[str]


class DeviceLoginReply(TypedDict):
    token: str
    user: DeviceUser
    server_time: str


class AuthController(Controller):
    @get("/login", name="login")
    async def login_page(self, request: Request, next: FromQuery[str | None] = None) -> Template:
        return page("login.html", error=None, username="", next=_safe_next(next) or "")

    @post("/login", status_code=303)
    async def login(
        self, request: Request,
        data: URLEncodedBody[LoginForm],
    ) -> Any:
        """Log in from the form; errors come back on the same page in the person's language."""
        language_error: tuple[str, dict[str, Any]] | None = None
        try:
            staff = await authenticate(data.username, data.password, _client_address(request))
        except RateLimited as exc:
            language_error = ("login.rate_limited", {"minutes": exc.extra.get("retry_after_minutes", 15)})
        except Unauthorized:
            language_error = ("login.bad_credentials", {})
        if language_error is not None:
            key, params = language_error
            return Template(
                template_name="login.html", media_type=MediaType.HTML, status_code=401 if key == "login.bad_credentials" else 429,
                context={"error": (key, params), "username": data.username, "next": _safe_next(data.next) or ""},
            )
        # A fresh session token on every login: a token planted before login is never promoted.
        await end_session(request.cookies.get(SESSION_COOKIE))
        token = await create_session(staff)
        response = redirect(_safe_next(data.next) or home_url(staff))
        response.set_cookie(session_cookie(token))
        return response

    @post("/logout", status_code=303)
    async def logout(self, request: Request) -> Any:
        await end_session(request.cookies.get(SESSION_COOKIE))
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/lang/{language:str}")
    async def switch_language(self, request: Request, language: FromPath[str], next: FromQuery[str | None] = None) -> Any:
        """Remember the chosen language in a cookie (and on the person when logged in)."""
        from server.staff.tables import Staff

        chosen = i18n.normalise(language)
        user = await optional_user(request)
        if user is not None:
            await Staff.update({Staff.language: chosen}).where(Staff.id == user.id)
        response = redirect(_safe_next(next) or "/")
        response.set_cookie(Cookie(key=LANGUAGE_COOKIE, value=chosen, path="/", samesite="lax",
                                   max_age=365 * 24 * 3600, secure=get_settings().cookies_secure))
        return response

    @post("/api/auth/device", status_code=200, exclude_from_csrf=True, responses=error_responses(400, 401, 429))
    async def device_login(self, request: Request, data: JSONBody[DeviceLogin]) -> DeviceLoginReply:
        """A long-lived device token for the field app (shared/SYNC.md, Device login).

        A browser already logged in may ask without a password: the request is
        JSON, which a cross-site form cannot send without CORS approval.
        """
        if not data.device_id.strip():
            raise Invalid("device_id is required")
        if data.password:
            staff = await authenticate(data.username, data.password, _client_address(request))
        else:
            staff = await optional_user(request)
            if staff is None:
                raise Unauthorized("用户名或密码错误 / wrong username or password", code="bad_credentials")
        token = await issue_device_token(staff, data.device_id.strip(), data.device_name)
        return {
            "token": token,
            "user": {"id": str(staff.id), "name": staff.name, "role": staff.role,
                     "site_ids": [str(s) for s in await site_ids_of(staff.id)]},
            "server_time": now().isoformat(),
        }

