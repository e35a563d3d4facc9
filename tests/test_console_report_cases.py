"""Single cases the compliance report must get right: what fails a month, the reception clocks,
and the follow-up rate."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import csrf_of, login, run
from console_data import finding, new_site, patrol_round, required_checkpoints, step
from server.console import workflow
from server.rectifications import services as rects
from server.reports.compliance import compliance_report

TZ = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(timezone.utc)


def fig(report: Any, key: str) -> Any:
    return next(f for f in report.figures if f.key == key)


def passed_on_page(html: str, key: str) -> str:
    match = re.search(rf'data-key="{re.escape(key)}"[^>]*data-passed="([a-z]*)"', html)
    assert match, key
    return match.group(1)


async def failing_month() -> dict[str, Any]:
    """May 2025 on a site set up on its last day: one missed window, one late, a dead tree left, a light out."""
    day = date(2025, 5, 31)
    s = await new_site(level=2, created_at=local(day, 0), lights=10)
    guard, tech = s["users"]["guard"], s["users"]["technician"]
    for k in range(12):
        start = local(day, 0) + timedelta(hours=2 * k)
        if k == 3:
            continue  # 06:00-08:00 missed
        finish = start + timedelta(hours=2, minutes=10) if k == 7 else start + timedelta(minutes=50)  # 14:00 late
        await patrol_round(s["templates"]["patrol.core"], guard, finish - timedelta(minutes=20), finish,
                           await required_checkpoints(s["templates"]["patrol.core"]))
    await finding(s["users"]["gardener"], s["site"].id, "dead_tree", local(day, 9))
    light = await finding(guard, s["site"].id, "lighting", local(day, 20))
    await step(light, tech, "start", local(day, 21))
    return s


def test_a_month_with_a_missed_and_a_late_window_an_overdue_dead_tree_and_lights_out_fails_each(client):
    s = run(failing_month())
    report = run(compliance_report(s["clock"], 2025, 5))
    patrol = fig(report, "rate.patrol_coverage")
    n = patrol.denominator // 12  # the checkpoints a patrol requires
    assert patrol.detail == {"due": 12, "on_time": 10, "late": 1, "incomplete": 0, "missed": 1, "pending": 0,
                             "covered": 10 * n, "required": 12 * n} and n >= 1
    assert patrol.value == 83.3 and patrol.passed is False
    tree = fig(report, "sla:sla.dead_tree")
    assert (tree.numerator, tree.denominator, tree.passed) == (0, 1, False)  # due 15 days later, long past
    lights = fig(report, "rate.lighting_intact")
    assert (lights.numerator, lights.denominator, lights.value, lights.target, lights.passed) == (9, 10, 90.0, 95.0, False)
    # Days before the site existed ask for nothing; the day it existed asked for its sweep.
    sweep = fig(report, "rounds:clean.sweep")
    assert (sweep.numerator, sweep.denominator, sweep.passed) == (0, 1, False)

    login(client, s["users"]["supervisor"].username)
    base = f"/console/sites/{s['site'].id}"
    html = client.get(f"{base}/report?month=2025-05").text
    for key in ("rate.patrol_coverage", "sla:sla.dead_tree", "rate.lighting_intact"):
        assert passed_on_page(html, key) == "no", key
    assert 'data-failing="' in html and "未达标" in html
    assert html.count('class="bar ') == 31 and 'data-day="2025-05-31" data-rate="83.3"' in html

    missed = client.get(f"{base}/logs/slots?month=2025-05&status=missed").text
    assert missed.count('data-status="missed"') == 1 and "06:00" in missed
    late = client.get(f"{base}/logs/slots?month=2025-05&status=late").text
    assert late.count('data-status="late"') == 1 and "14:00" in late


async def reception_month() -> dict[str, Any]:
    """June 2025: an emergency repair reached 40 minutes after the call, a complaint settled in 90 minutes,
    three verified repairs of which one has no follow-up call yet."""
    s = await new_site(level=2, created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    sup, tech = s["users"]["supervisor"], s["users"]["technician"]
    site_id = s["site"].id
    t0 = local(date(2025, 6, 10), 9)
    emergency = await rects.open_reception(sup, site_id, "repair", "emergency", note="水管爆裂",
                                           resident_unit="3栋501", resident_contact="138", at=t0)
    await step(emergency.id, sup, "assign", t0 + timedelta(minutes=2), assignee_id=tech.id)
    await step(emergency.id, tech, "start", t0 + timedelta(minutes=40))
    await step(emergency.id, tech, "fix", t0 + timedelta(minutes=80))
    await step(emergency.id, sup, "verify", t0 + timedelta(hours=3))
    await workflow.record_followup(s["clock"], sup, emergency.id, "住户满意")

    t1 = local(date(2025, 6, 12), 14)
    complaint = await rects.open_reception(sup, site_id, "complaint", "normal", note="夜间噪音",
                                           resident_unit="5栋302", resident_contact="139", at=t1)
    await step(complaint.id, sup, "assign", t1 + timedelta(minutes=5), assignee_id=tech.id)
    await step(complaint.id, tech, "fix", t1 + timedelta(minutes=90))

    repairs = []
    for i, unit in enumerate(("1栋101", "2栋202")):
        t = local(date(2025, 6, 15 + i), 10)
        rect = await rects.open_reception(sup, site_id, "repair", "normal", note="门禁坏了", resident_unit=unit, at=t)
        await step(rect.id, tech, "fix", t + timedelta(hours=4))
        await step(rect.id, sup, "verify", t + timedelta(hours=6))
        repairs.append(rect.id)
    await workflow.record_followup(s["clock"], sup, repairs[0], "已修好")
    s.update(emergency=emergency.id, complaint=complaint.id, unfollowed=repairs[1])
    return s


@pytest.fixture(scope="module")
def reception() -> dict[str, Any]:
    return run(reception_month())


def test_emergency_repair_reached_after_40_minutes_counts_late(reception):
    report = run(compliance_report(reception["clock"], 2025, 6))
    emergency = fig(report, "sla:sla.emergency_repair")
    assert (emergency.numerator, emergency.denominator, emergency.passed) == (0, 1, False)
    assert emergency.target_zh == "30分钟内"


def test_complaint_closed_in_90_minutes_counts_on_time(reception):
    report = run(compliance_report(reception["clock"], 2025, 6))
    complaint = fig(report, "sla:sla.complaint")
    assert (complaint.numerator, complaint.denominator, complaint.passed) == (1, 1, True)
    handled = fig(report, "rate.complaint_handled")
    assert (handled.numerator, handled.denominator, handled.value, handled.passed) == (1, 1, 100.0, True)


def test_an_unfollowed_verified_repair_lowers_the_follow_up_rate_until_the_call_is_recorded(client, reception):
    report = run(compliance_report(reception["clock"], 2025, 6))
    followup = fig(report, "rate.repair_followup")
    assert (followup.numerator, followup.denominator, followup.value, followup.passed) == (2, 3, 66.7, False)

    login(client, reception["users"]["supervisor"].username)
    base = f"/console/sites/{reception['site'].id}"
    due = client.get(f"{base}/logs/rectifications?category=repair&state=verified&followup=no").text
    assert due.count("data-rect=") == 1 and str(reception["unfollowed"]) in due

    page = f"{base}/rectifications/{reception['unfollowed']}"
    token = csrf_of(client, page)
    response = client.post(f"{page}/followup", data={"outcome": "住户确认已修好", "_csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    html = client.get(f"{base}/report?month=2025-06").text
    assert passed_on_page(html, "rate.repair_followup") == "yes"
    assert passed_on_page(html, "sla:sla.emergency_repair") == "no"
