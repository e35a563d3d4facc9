"""The patrol window rule (server/rounds/schedule.py) against the table of cases the phone's copy is tested with too.

The same file, tests/cases/patrol_windows.json, is run in Chromium against
web/static/app/schedule.js; a case added there is a case for both.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from server.rounds import schedule

CASES_FILE = Path(__file__).parent / "cases" / "patrol_windows.json"
TABLE = json.loads(CASES_FILE.read_text(encoding="utf-8"))


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def judge(case: dict) -> tuple[list[dict], str | None]:
    """Run one case through the rule: what a person would see for each window, and the start button's window."""
    grace = timedelta(minutes=case.get("grace_minutes", TABLE["grace_minutes"]))
    since, now = _at(case.get("since")), _at(case["now"])
    windows: list[schedule.Window | None] = []
    for w in case["windows"]:
        start, end = _at(w["start"]), _at(w["end"])
        if not schedule.exists(end, since):
            windows.append(None)
            continue
        windows.append(schedule.Window(start=start, end=end, status=w.get("status", "pending"), round=w.get("round"),
                                       visited=w.get("visited"), required=w.get("required")))
    slots = [w for w in windows if w is not None]
    rounds = [schedule.Finished(id=r["id"], finished_at=_at(r["finished_at"]), visited=r["visited"],
                                required=r["required"]) for r in case["rounds"]]
    schedule.settle(slots, rounds, grace)
    seen = []
    for w in windows:
        if w is None:
            seen.append({"slot": False})
            continue
        seen.append({"status": schedule.status_at(w.status, w.end, now, grace), "round": w.round,
                     "visited": w.visited, "required": w.required})
    chosen = schedule.current(slots, now, grace)
    return seen, chosen.start.isoformat() if chosen else None


def _expected(seen: dict, expect: dict) -> dict:
    """Only the fields the case names are compared."""
    return {key: seen.get(key) for key in expect}


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_patrol_rule_case(case: dict) -> None:
    seen, chosen = judge(case)
    assert [_expected(s, e) for s, e in zip(seen, case["expect"])] == case["expect"]
    assert len(seen) == len(case["expect"])
    expected_current = _at(case["current"])
    assert (_at(chosen) if chosen else None) == expected_current


def test_the_table_covers_what_the_contract_names() -> None:
    """Every status of SYNC.md v1.1, and no-slot windows, appear in some case's expectation."""
    statuses = {e.get("status") for c in TABLE["cases"] for e in c["expect"]}
    assert set(schedule.STATUSES) <= statuses
    assert any(e.get("slot") is False for c in TABLE["cases"] for e in c["expect"])
