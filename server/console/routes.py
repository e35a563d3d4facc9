"""Every handler of the supervisor console and the compliance report, for server/app.py."""

from __future__ import annotations

from typing import Any

from server.console.controllers import ConsoleController
from server.console.log_controllers import LogController
from server.console.rect_controllers import RectificationController
from server.reports.controllers import ReportController

console_handlers: list[Any] = [ConsoleController, RectificationController, LogController, ReportController]
