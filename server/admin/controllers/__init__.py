"""Every /admin handler, for server.app.route_handlers()."""

from __future__ import annotations

from server.admin.controllers.audit import AdminAuditController
from server.admin.controllers.checkpoints import AdminCheckpointsController
from server.admin.controllers.imports import AdminImportController
from server.admin.controllers.sites import AdminSitesController
from server.admin.controllers.staff import AdminStaffController
from server.admin.controllers.templates import AdminTemplatesController

admin_handlers = [
    AdminSitesController, AdminCheckpointsController, AdminTemplatesController, AdminStaffController,
    AdminImportController, AdminAuditController,
]

__all__ = ["admin_handlers"]
