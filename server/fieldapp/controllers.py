"""Serves the field app: the shell at /app, the service worker at the root scope, the manifest."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.response import Response

from server.fieldapp.assets import current_bundle

# The shell and the worker are revalidated on every load: the worker is how a
# phone learns of a new version, and a stale one would pin the old app.
NO_CACHE = {"Cache-Control": "no-cache"}


class FieldAppController(Controller):
    include_in_schema = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current_bundle()  # computed once at start-up, not on a phone's first request

    @get("/app", name="fieldapp")
    async def shell(self) -> Response[bytes]:
        """The app shell: static for everyone; the person's data lives in the phone's IndexedDB."""
        return Response(current_bundle().shell, media_type="text/html", headers=NO_CACHE)

    @get("/app/boot.json")
    async def boot(self) -> Response[bytes]:
        """Catalogues and categories for the app (precached with the shell)."""
        return Response(current_bundle().boot, media_type="application/json", headers=NO_CACHE)

    @get("/sw.js")
    async def service_worker(self) -> Response[bytes]:
        return Response(current_bundle().service_worker, media_type="text/javascript",
                        headers={**NO_CACHE, "Service-Worker-Allowed": "/"})

    @get("/manifest.webmanifest")
    async def manifest(self) -> Response[bytes]:
        return Response(current_bundle().manifest, media_type="application/manifest+json", headers=NO_CACHE)
