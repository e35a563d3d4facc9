"""The compliance report against figures computed here, independently, from the raw records.

A month (March 2025, Asia/Shanghai) of generated patrols, scheduled rounds,
findings, reception requests and lighting faults on a level-2 site; every rate
of the report is recomputed from Round, Rectification and RectTransition rows
with this file's own calendar arithmetic.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import login, run
from console_data import bulk_rounds, finding, new_site, patrol_round, required_checkpoints, settle_by_the_rule, step
from server.console import workflow
from server.db import write_transaction
from server.rectifications import services as rects
from server.rectifications.tables import Rectification, RectTransition
from server.reports.compliance import compliance_report
from server.rounds.tables import Round, TemplateItem, Visit

TZ = ZoneInfo("Asia/Shanghai")
YEAR, MONTH = 2025, 3
DAYS = [date(YEAR, MONTH, d) for d in range(1, 32)]
GRACE = timedelta(minutes=15)  # settings.slot_grace_minutes default
MONTH_START = datetime(YEAR, MONTH, 1, tzinfo=TZ)
MONTH_END = datetime(YEAR, MONTH + 1, 1, tzinfo=TZ)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(timezone.utc)


def pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 1) if d else None


async def build_month(seed: int = 7) -> dict[str, Any]:
    s = await new_site(level=2, created_at=datetime(2025, 1, 1, tzinfo=timezone.utc), lights=50)
    # One transaction for the whole month: the services join it, and it commits once (fast on SQLite).
    async with write_transaction():
        await generate_month(s, random.Random(seed))
    return s


async def generate_month(s: dict[str, Any], rng: random.Random) -> None:
    t, u, site = s["templates"], s["users"], s["site"]
    guard, cleaner, gardener, tech, sup = (u[r] for r in ("guard", "cleaner", "gardener", "technician", "supervisor"))

    # Patrol (every 2 h): most windows done inside, some finished in the grace after, some missed;
    # most rounds visit every checkpoint, some skip a few, a few visit none.
    required = await required_checkpoints(t["patrol.core"])
    for day in DAYS:
        for k in range(12):
            start = local(day, 0) + timedelta(hours=2 * k)
            roll = rng.random()
            if roll < 0.8:
                finish = start + timedelta(minutes=rng.randint(20, 110))
            elif roll < 0.88:
                finish = start + timedelta(hours=2, minutes=rng.randint(1, 14))
            else:
                continue
            skip = rng.random()
            visits = required if skip < 0.75 else rng.sample(required, rng.randint(1, len(required) - 1)) \
                if skip < 0.95 else []
            await patrol_round(t["patrol.core"], guard, finish - timedelta(minutes=15), finish, visits)
    await settle_by_the_rule(site.id)

    # Scheduled rounds counted per period, including the days before March of March's first week.
    def starts(days: list[date], counts: range) -> list[datetime]:
        out = []
        for day in days:
            for _ in range(rng.choice(counts)):
                out.append(local(day, rng.randint(7, 18), rng.randint(0, 59)))
        return out

    feb_tail = [date(2025, 2, d) for d in range(20, 29)]
    await bulk_rounds(t["clean.sweep"], cleaner, starts(DAYS, range(0, 3)))
    await bulk_rounds(t["clean.garbage"], cleaner, starts(DAYS, range(0, 4)))
    await bulk_rounds(t["clean.bins"], cleaner, starts(DAYS, range(1, 2)))
    await bulk_rounds(t["drain.wells"], cleaner, [local(date(2025, 3, 12), 9)])
    await bulk_rounds(t["green.inspect"], gardener, starts(rng.sample(feb_tail + DAYS, 6), range(1, 2)))
    await bulk_rounds(t["light.check"], guard, starts(rng.sample(DAYS, 3), range(1, 2)))
    # pest.control and clean.wipe: nothing this month.

    # Field findings: fixed in time, fixed late, never fixed, reopened and fixed again, emergencies.
    categories = ["hazard", "drain", "dead_tree", "facility", "garbage", "lighting", "road"]
    for i in range(40):
        day = DAYS[rng.randrange(31)]
        at = local(day, rng.randint(0, 22), rng.randint(0, 59))
        category = rng.choice(categories)
        severity = "emergency" if category in ("hazard", "facility") and rng.random() < 0.4 else "normal"
        rid = await finding(guard, site.id, category, at, severity)
        fate = rng.random()
        await step(rid, sup, "assign", at + timedelta(minutes=5), assignee_id=tech.id)
        if fate < 0.15:
            continue  # never fixed
        start_after = timedelta(minutes=rng.choice([10, 25, 45, 90]))
        await step(rid, tech, "start", at + start_after)
        fix_after = timedelta(hours=rng.choice([3, 20, 40, 60, 400]))
        await step(rid, tech, "fix", at + fix_after)
        if fate < 0.3:
            await step(rid, sup, "reopen", at + fix_after + timedelta(hours=1), note="没修好")
            if fate < 0.22:
                continue  # reopened, left open
            await step(rid, tech, "fix", at + fix_after + timedelta(hours=rng.choice([2, 50])))
        if rng.random() < 0.7:
            await step(rid, sup, "verify", at + fix_after + timedelta(days=3))

    # A lighting fault from February still broken, one fixed only in April (broken at the end of March).
    old = await finding(guard, site.id, "lighting", local(date(2025, 2, 20), 20))
    await step(old, tech, "start", local(date(2025, 2, 21), 9))
    late_light = await finding(guard, site.id, "lighting", local(date(2025, 3, 30), 20))
    await step(late_light, tech, "fix", local(date(2025, 4, 2), 10))

    # Reception: repairs (emergency and scheduled) and complaints; some verified, some followed up.
    for i in range(12):
        day = DAYS[rng.randrange(31)]
        at = local(day, rng.randint(8, 20))
        category = "complaint" if i % 3 == 0 else "repair"
        severity = "emergency" if category == "repair" and i % 2 == 0 else "normal"
        rect = await rects.open_reception(sup, site.id, category, severity, note=f"住户报事{i}",
                                          resident_unit=f"{i}栋", resident_contact="138", at=at)
        await step(rect.id, sup, "assign", at + timedelta(minutes=2), assignee_id=tech.id)
        await step(rect.id, tech, "start", at + timedelta(minutes=rng.choice([15, 40])))
        await step(rect.id, tech, "fix", at + timedelta(minutes=rng.choice([90, 150, 600])))
        if i % 4 != 3:
            await step(rect.id, sup, "verify", at + timedelta(hours=20))
            if i % 5 != 0:
                await workflow.record_followup(s["clock"], sup, rect.id, "住户满意")


# --- independent computations from raw rows -------------------------------------------------------


async def expected_patrol(s: dict[str, Any]) -> dict[str, Any]:
    """Patrol windows and checkpoint visits, by giving each finished round, in finishing order, the earliest
    open window it finished in or within the grace after; a round that missed required checkpoints leaves
    its window incomplete with only its visited part covered, a late one covers nothing."""
    template = s["templates"]["patrol.core"]
    required = {r["checkpoint"] for r in await TemplateItem.select(TemplateItem.checkpoint).where(
        TemplateItem.template == template.id)}
    rows = await Round.select(Round.id, Round.finished_at).where(
        (Round.template == template.id) & (Round.state == "finished"))
    visits = await Visit.select(Visit.round, Visit.checkpoint).where(Visit.round.is_in([r["id"] for r in rows]))
    seen: dict[Any, set[Any]] = defaultdict(set)
    for v in visits:
        seen[v["round"]].add(v["checkpoint"])
    windows = [(local(day, 0) + timedelta(hours=2 * k), local(day, 0) + timedelta(hours=2 * k + 2), day)
               for day in DAYS for k in range(12)]
    taken: dict[int, tuple[str, int]] = {}
    for r in sorted(rows, key=lambda r: r["finished_at"]):
        f = r["finished_at"]
        for i, (ws, we, _) in enumerate(windows):
            if i not in taken and ws <= f <= we + GRACE:
                visited = len(seen[r["id"]] & required)
                if visited < len(required):
                    taken[i] = ("incomplete", visited)
                else:
                    taken[i] = ("done", visited) if f <= we else ("late", 0)
                break
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    counts = {"due": len(windows), "on_time": 0, "late": 0, "incomplete": 0, "missed": 0, "pending": 0,
              "covered": 0, "required": len(windows) * len(required)}
    for i, (_, _, day) in enumerate(windows):
        status, covered = taken.get(i, ("missed", 0))
        counts["on_time" if status == "done" else status] += 1
        counts["covered"] += covered
        per_day[day][0] += covered
        per_day[day][1] += len(required)
    return {"counts": counts, "per_day": {d: tuple(v) for d, v in per_day.items()}}


async def expected_rounds(s: dict[str, Any], code: str) -> tuple[int, int]:
    template = s["templates"][code]
    freq = template.frequency
    rows = await Round.select(Round.started_at).where((Round.template == template.id) & (Round.state == "finished"))
    days = [r["started_at"].astimezone(TZ).date() for r in rows]
    times = freq.get("times", 1)
    if freq["period"] == "day":
        periods = [(d, d) for d in DAYS]
    elif freq["period"] == "week":
        sundays = [d for d in DAYS if d.weekday() == 6]
        periods = [(d - timedelta(days=6), d) for d in sundays]
    elif freq["period"] == "month":
        periods = [(DAYS[0], DAYS[-1])]
    else:
        return 0, 0
    done = sum(min(times, sum(1 for x in days if first <= x <= last)) for first, last in periods)
    return done, times * len(periods)


async def expected_deadlines(s: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per deadline code: (in time, decided) for rectifications reported in March."""
    rects_rows = await Rectification.select().where(
        (Rectification.site == s["site"].id) & (Rectification.created_at >= MONTH_START)
        & (Rectification.created_at < MONTH_END))
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rects_rows:
        steps = await RectTransition.select().where(
            (RectTransition.rectification == r["id"]) & (RectTransition.outcome == "applied")).order_by(
            RectTransition.position)
        if r["sla_code"] == "sla.emergency_repair":
            arrivals = [x["at"] for x in steps if x["action"] in ("start", "fix")]
            stop = min(arrivals) if arrivals else None
        else:
            stop = None
            for x in steps:  # the last fix stands unless a reopen came after it
                if x["action"] == "fix":
                    stop = x["at"]
                elif x["action"] == "reopen":
                    stop = None
        if stop is not None:
            out[r["sla_code"]][1] += 1
            out[r["sla_code"]][0] += stop <= r["due_at"]
        elif r["due_at"] < datetime.now(timezone.utc):
            out[r["sla_code"]][1] += 1
    return {k: tuple(v) for k, v in out.items()}


async def expected_lighting(s: dict[str, Any]) -> tuple[int, int]:
    end = MONTH_END.astimezone(timezone.utc)
    rows = await Rectification.select(Rectification.id).where(
        (Rectification.site == s["site"].id) & (Rectification.category == "lighting")
        & (Rectification.created_at < end))
    broken = 0
    for r in rows:
        steps = await RectTransition.select().where(
            (RectTransition.rectification == r["id"]) & (RectTransition.outcome == "applied")
            & (RectTransition.at < end)).order_by(RectTransition.position)
        fixed = False
        for x in steps:
            if x["action"] == "fix":
                fixed = True
            elif x["action"] == "reopen":
                fixed = False
        broken += not fixed
    return 50 - broken, 50


@pytest.fixture(scope="module")
def month() -> dict[str, Any]:
    s = run(build_month())
    s["report"] = run(compliance_report(s["clock"], YEAR, MONTH))
    return s


def figure(report: Any, key: str) -> Any:
    return next(f for f in report.figures if f.key == key)


def test_patrol_coverage_counts_checkpoint_visits_and_matches_the_rounds(month):
    expected = run(expected_patrol(month))
    counts = expected["counts"]
    patrol = month["report"].patrol
    assert patrol.detail == counts and counts["due"] == 31 * 12
    assert counts["incomplete"] > 0 and counts["late"] > 0 and counts["missed"] > 0
    # Coverage = checkpoint visits covered / required over the windows: not the windows with a round.
    assert (patrol.numerator, patrol.denominator) == (counts["covered"], counts["required"])
    windows_with_a_round = counts["on_time"] + counts["incomplete"]
    assert patrol.value == pct(counts["covered"], counts["required"]) < pct(windows_with_a_round, counts["due"])
    assert patrol.passed is False
    assert {d.day: (d.covered, d.required) for d in month["report"].daily} == expected["per_day"]


@pytest.mark.parametrize("code", ["clean.sweep", "clean.garbage", "clean.bins", "clean.wipe", "drain.wells",
                                  "pest.control", "green.inspect", "light.check"])
def test_rounds_per_frequency_match(month, code):
    done, due = run(expected_rounds(month, code))
    fig = figure(month["report"], f"rounds:{code}")
    assert (fig.numerator, fig.denominator) == (done, due)
    assert fig.passed is (done >= due)


def test_deadlines_per_category_match(month):
    expected = run(expected_deadlines(month))
    got = {f.key.split(":", 1)[1]: (f.numerator, f.denominator) for f in month["report"].deadlines}
    assert got == expected
    assert "sla.emergency_repair" in got and "sla.dead_tree" in got and "sla.complaint" in got


def test_rates_match(month):
    report = month["report"]
    site = month["site"]
    rows = run(Rectification.select().where((Rectification.site == site.id)
                                             & (Rectification.created_at >= MONTH_START)
                                             & (Rectification.created_at < MONTH_END)))
    repairs = [r for r in rows if r["category"] == "repair" and r["state"] == "verified"]
    followed = [r for r in repairs if r["followup_at"] is not None]
    fig = figure(report, "rate.repair_followup")
    assert (fig.numerator, fig.denominator) == (len(followed), len(repairs)) and len(repairs) > len(followed)
    assert fig.target == 80.0 and fig.passed is (100 * len(followed) >= 80 * len(repairs))

    handled, decided = run(expected_deadlines(month))["sla.complaint"]
    fig = figure(report, "rate.complaint_handled")
    assert (fig.numerator, fig.denominator) == (handled, decided) and fig.target == 90.0

    intact, total = run(expected_lighting(month))
    fig = figure(report, "rate.lighting_intact")
    assert (fig.numerator, fig.denominator) == (intact, total) and intact < total
    assert fig.target == 95.0 and fig.passed is (100 * intact >= 95 * total)


def test_report_page_shows_every_figure_with_target_and_link(client, month):
    login(client, month["users"]["supervisor"].username)
    html = client.get(f"/console/sites/{month['site'].id}/report?month=2025-03").text
    report = month["report"]
    for fig in report.figures:
        assert f'data-key="{fig.key}"' in html
    row = re.search(r'<tr class="figure [^"]*" data-key="rate.patrol_coverage"[^>]*>(.*?)</tr>', html, re.S)
    assert row and f"{report.patrol.value:g}%" in row.group(1) and "100%" in row.group(1)
    assert f"/console/sites/{month['site'].id}/logs/slots?month=2025-03" in row.group(1)
    assert '<svg' in html and html.count('class="bar ') == 31
    assert 'href="/static/css/console-print.css" media="print"' in html
    assert "达标报告" in html
