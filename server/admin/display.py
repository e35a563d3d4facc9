"""How administration pages show times: China Standard Time, the company's clock (shown on the page)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(DISPLAY_ZONE).strftime(fmt) if moment else ""
