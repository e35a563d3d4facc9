"""The filters of the console's logs, read from a query string (bad values are a 400, never a 500)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Mapping
from urllib.parse import urlencode

from server import standard
from server.errors import Invalid
from server.staff.tables import ROLES

RECT_STATES = ("open", "assigned", "in_progress", "fixed", "reopened", "verified")
RECT_STATE_GROUPS = ("unfixed", "unverified")  # not yet fixed; not yet verified
ROUND_STATES = ("open", "finished")
SLOT_STATUSES = ("pending", "done", "late", "incomplete", "missed")
PAGE_SIZE = 50


@dataclass
class LogFilter:
    zone: uuid.UUID | None = None
    checkpoint: uuid.UUID | None = None
    role: str = ""
    person: uuid.UUID | None = None
    category: str = ""
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    problems: bool = False
    template: uuid.UUID | None = None
    sla: str = ""
    followup: str = ""
    page: int = 1

    def query(self, **override: Any) -> str:
        """This filter as a query string (for paging and export links)."""
        values = {**asdict(self), **override}
        params = {
            "zone": values["zone"], "checkpoint": values["checkpoint"], "role": values["role"],
            "person": values["person"], "category": values["category"], "state": values["state"],
            "from": values["date_from"], "to": values["date_to"], "problems": "1" if values["problems"] else "",
            "template": values["template"], "sla": values["sla"], "followup": values["followup"],
            "page": values["page"] if values["page"] and values["page"] != 1 else "",
        }
        return urlencode({k: str(v) for k, v in params.items() if v not in (None, "")})


def round_kinds() -> tuple[str, ...]:
    """The kinds of round of the standard (patrol, cleaning, drains...), in its order."""
    return tuple(dict.fromkeys(r["kind"] for r in standard.round_rows()))


def _uuid(raw: str | None, name: str) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise Invalid(f"筛选条件无效 / bad filter: {name}", code="bad_filter") from exc


def _date(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"日期格式应为 YYYY-MM-DD / {name} must be a date like 2026-11-27", code="bad_filter") from exc


def _choice(raw: str | None, allowed: tuple[str, ...], name: str) -> str:
    if not raw:
        return ""
    if raw not in allowed:
        raise Invalid(f"筛选条件无效 / bad filter: {name}", code="bad_filter")
    return raw


def parse_filter(params: Mapping[str, str], log: str) -> LogFilter:
    """Read a log's filters; `log` is "inspection", "rectifications" or "slots" (each has its own lists)."""
    kinds = round_kinds()
    categories = tuple(standard.category_codes()) if log == "rectifications" else kinds
    states = {"rectifications": RECT_STATES + RECT_STATE_GROUPS, "inspection": ROUND_STATES,
              "slots": SLOT_STATUSES}[log]
    slas = tuple(d["code"] for d in standard.standard()["deadlines"])
    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError as exc:
        raise Invalid("页码无效 / bad page number", code="bad_filter") from exc
    f = LogFilter(
        zone=_uuid(params.get("zone"), "zone"), checkpoint=_uuid(params.get("checkpoint"), "checkpoint"),
        role=_choice(params.get("role"), ROLES, "role"), person=_uuid(params.get("person"), "person"),
        category=_choice(params.get("category"), categories, "category"),
        state=_choice(params.get("state"), states, "state"),
        date_from=_date(params.get("from"), "from"), date_to=_date(params.get("to"), "to"),
        problems=params.get("problems") in ("1", "on", "true", "yes"),
        template=_uuid(params.get("template"), "template"), sla=_choice(params.get("sla"), slas, "sla"),
        followup=_choice(params.get("followup"), ("yes", "no"), "followup"), page=page,
    )
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise Invalid("开始日期晚于结束日期 / the start date is after the end date", code="bad_filter")
    return f
