"""Administration (/admin): sites, zones, checkpoints and posters, lights, templates, staff, import, audit."""

from __future__ import annotations

from server.admin.controllers import admin_handlers

__all__ = ["admin_handlers"]
