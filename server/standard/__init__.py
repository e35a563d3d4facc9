"""The property service standard as data (standard.json), and what a site's level makes of it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

STANDARD_FILE = Path(__file__).with_name("standard.json")
SCHEDULED_PERIODS = ("hours", "day", "week", "month", "quarter", "year")
LEVELS = (1, 2, 3)


@lru_cache(maxsize=1)
def standard() -> dict[str, Any]:
    return json.loads(STANDARD_FILE.read_text(encoding="utf-8"))


def round_rows() -> list[dict[str, Any]]:
    return standard()["rounds"]


def categories() -> list[dict[str, Any]]:
    return standard()["categories"]


def category_codes() -> list[str]:
    return [c["code"] for c in categories()]


def category(code: str) -> dict[str, Any] | None:
    return next((c for c in categories() if c["code"] == code), None)


def deadline_row(code: str) -> dict[str, Any]:
    return next(d for d in standard()["deadlines"] if d["code"] == code)


def default_figures(level: int) -> list[dict[str, Any]]:
    """The deadline (minutes) and rate (percent) figures of a level, as rows for SiteFigure."""
    key = str(level)
    rows = []
    for d in standard()["deadlines"]:
        cell = d["levels"][key]
        rows.append({"code": d["code"], "kind": "sla", "value": float(cell["minutes"]),
                     "extrapolated": bool(cell.get("extrapolated"))})
    for r in standard()["rates"]:
        cell = r["levels"][key]
        rows.append({"code": r["code"], "kind": "rate", "value": float(cell["percent"]),
                     "extrapolated": bool(cell.get("extrapolated"))})
    return rows


def templates_for_level(level: int) -> list[dict[str, Any]]:
    """Round templates a site of this level gets.

    Rows checked "each patrol" at this level do not make a template of their
    own: their checks ride on the core patrol, at the checkpoints of their kinds.
    """
    key = str(level)
    out = []
    for row in round_rows():
        cell = row["levels"][key]
        if cell["period"] == "each_patrol":
            continue
        window = cell.get("window", ["00:00", "24:00"])
        frequency = {k: cell[k] for k in ("period", "every", "times", "trigger_cm") if k in cell}
        frequency.setdefault("every", 1)
        frequency.setdefault("times", 1)
        frequency["text_zh"], frequency["text_en"] = cell["text_zh"], cell["text_en"]
        out.append({
            "code": row["code"], "role": row["role"], "kind": row["kind"], "proof": row["proof"],
            "name_zh": row["zh"], "name_en": row["en"], "frequency": frequency,
            "window_start": window[0], "window_end": window[1],
            "extrapolated": bool(cell.get("extrapolated")),
            "checkpoint_kinds": row["checkpoint_kinds"],
            "checks": [{"id": c["id"], "label_zh": c["zh"], "label_en": c["en"]} for c in row["checks"]],
        })
    return out


def riding_checks(level: int) -> list[dict[str, Any]]:
    """Checks of rows that are verified on each patrol at this level, with the checkpoint kinds they apply to."""
    key = str(level)
    return [
        {"kinds": row["checkpoint_kinds"],
         "checks": [{"id": c["id"], "label_zh": c["zh"], "label_en": c["en"]} for c in row["checks"]]}
        for row in round_rows() if row["levels"][key]["period"] == "each_patrol"
    ]


def sla_code_for(category_code: str, severity: str) -> str:
    """Which deadline a finding or request of this category and severity runs against."""
    if severity == "emergency" and category_code not in ("complaint",):
        return standard()["severity_sla"]["emergency"]
    cat = category(category_code)
    return cat["sla"] if cat else "sla.finding"


def due_at(sla_code: str, minutes: float, start: datetime, timezone: str) -> datetime:
    """The deadline of a clock started at `start`; same-day deadlines end at local midnight."""
    row = deadline_row(sla_code)
    if row.get("same_day"):
        local = start.astimezone(ZoneInfo(timezone))
        end = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return end
    return start + timedelta(minutes=minutes)
