"""The Litestar application: composes every domain's handlers, templates, static files and errors."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Template
from litestar.static_files import create_static_files_router
from piccolo.engine.postgres import PostgresEngine

from server import i18n
from server.admin import admin_handlers
from server.console.routes import console_handlers
from server.db import engine, sqlite_connections_kept
from server.errors import AppError
from server.fieldapp.controllers import FieldAppController
from server.notify.controllers import InboxController, NotificationsApi, PushApi
from server.photos.controllers import PhotoController, PhotoSyncController
from server.scheduler import scheduler_lifespan
from server.security import add_security_headers
from server.pages import WEB_DIR, home_url, optional_user, provide_user, redirect, request_language, template_config
from server.settings import get_settings
from server.sites.controllers import SitesApi
from server import wiring
from server.staff.controllers import AuthController
from sync.controllers import SyncController

log = logging.getLogger("xunjian")

wiring.install()  # notify and the domains subscribe to the domains' events

JSON_PREFIXES = ("/api", "/sync", "/photos", "/schema")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def _error_response(request: Request, status: int, code: str, reason: str, extra: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        return Response(content={"code": code, "reason": reason, **(extra or {})}, status_code=status,
                        media_type=MediaType.JSON, headers=headers)
    if status == 401:
        return redirect(f"/login?next={request.url.path}")
    language = request_language(request)
    message_key = {403: "error.forbidden", 404: "error.not_found"}.get(status)
    if code == "csrf":
        message_key = "error.csrf"
    message = i18n.translate(language, message_key) if message_key else reason
    return Template(template_name="error.html", status_code=status, media_type=MediaType.HTML,
                    context={"status": status, "code": code, "message": message}, headers=headers)


def handle_app_error(request: Request, exc: AppError) -> Response:
    minutes = exc.extra.get("retry_after_minutes")
    headers = {"retry-after": str(int(minutes) * 60)} if exc.status_code == 429 and minutes else None
    return _error_response(request, exc.status_code, exc.code, exc.reason, exc.extra, headers)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    code = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            413: "too_large", 415: "unsupported_type"}.get(status, "error")
    reason = exc.detail or "error"
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        code, reason = "csrf", "CSRF token missing or wrong; reload the page and try again"
    extra = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    if status >= 500:
        log.exception("server error on %s", request.url.path, exc_info=exc)
    # Keep the exception's own headers: a 405 must say which methods are allowed (Allow).
    return _error_response(request, status, code, reason, extra, dict(exc.headers or {}) or None)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, 500, "internal", "内部错误 / internal error")


async def html_templates(response: Response) -> Response:
    """Rendered templates are HTML whatever a handler's return annotation made Litestar guess."""
    if isinstance(response, Template) and not response.media_type:
        response.media_type = MediaType.HTML
    return response


@get("/", include_in_schema=False)
async def index(request: Request) -> Any:
    user = await optional_user(request)
    return redirect(home_url(user) if user else "/login")


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@asynccontextmanager
async def database_pool(app: Litestar) -> AsyncIterator[None]:
    db = engine()
    pool_size = get_settings().db_pool_size
    pooled = isinstance(db, PostgresEngine) and pool_size > 0
    if pooled:
        await db.start_connection_pool(min_size=1, max_size=pool_size)
    try:
        async with sqlite_connections_kept():
            yield
    finally:
        if pooled:
            await db.close_connection_pool()


def route_handlers() -> list[Any]:
    """Every domain's handlers; each later domain adds its own list here."""
    handlers: list[Any] = [index, healthz, AuthController, SitesApi]
    handlers += [FieldAppController]  # the field app: /app, /sw.js, /manifest.webmanifest
    handlers += [PushApi, NotificationsApi, InboxController]  # /api/push, /api/notifications, /notifications
    handlers += [SyncController]  # /sync/pull, /sync/push
    handlers += [PhotoSyncController, PhotoController]  # /sync/photos/{sha256}, /photos/{sha256}
    handlers += admin_handlers  # /admin: sites, checkpoints and posters, templates, staff, import, audit
    handlers += console_handlers  # /console: today, review, rectifications, logs, reception, report
    return handlers


def create_app(extra_lifespan: list[Any] | None = None) -> Litestar:
    settings = get_settings()
    csrf_secret = settings.signing_key().decode()
    return Litestar(
        route_handlers=[
            *route_handlers(),
            create_static_files_router(path="/static", directories=[WEB_DIR / "static"], name="static"),
        ],
        dependencies={"user": Provide(provide_user)},
        before_send=[add_security_headers],
        after_request=html_templates,
        template_config=template_config(),
        # Text is gzipped (the field app's first load on a slow link); photos are JPEG already.
        compression_config=CompressionConfig(backend="gzip", gzip_compress_level=6, minimum_size=500,
                                             exclude=["/photos", "/sync/photos"]),
        csrf_config=CSRFConfig(
            secret=csrf_secret, cookie_name="xj_csrf", cookie_secure=settings.cookies_secure,
            cookie_httponly=True, header_name="x-csrftoken", exclude=["/sync", "/api/auth/device"],
        ),
        exception_handlers={
            AppError: handle_app_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        # Only the JSON document: the HTML viewers load scripts from CDNs and run
        # inline code, which the CSP blocks and an offline deployment cannot reach.
        openapi_config=OpenAPIConfig(title="Xunjian 巡检", version="1", path="/schema",
                                     render_plugins=[JsonRenderPlugin()]),
        lifespan=[database_pool, scheduler_lifespan, *(extra_lifespan or [])],
        debug=False,
    )
