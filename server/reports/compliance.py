"""The compliance report of a site for one month: each figure of STANDARD.md next to the site's target.

Which records count, in one place (the console's report page and its tests rely on it):

- Patrol coverage: the windows of templates scheduled every N hours starting in
  the month (server/console/slots.py: stored or not, and only windows that are
  slots: not before the site or template existed), with their status by the one
  rule (server/rounds/schedule.py), once settled or over (pending ones are left
  out). Coverage = checkpoint visits covered / checkpoint visits required: each
  window requires its template's checkpoints (`required`, as the slot stored it,
  else the template's items now); a window done on time covers what its round
  visited (all of them, when the slot does not say), an incomplete one only its
  `visited` part, a late or missed one nothing. Beside it, the windows: due, on
  time (done), late, incomplete, missed.
- Scheduled rounds (cleaning, wells, greenery, pests, lighting...): per period of
  the template's frequency ending in the month (and after the site was set up),
  finished rounds started in the period, at most `times` per period. A period
  counts once it has ended, or as soon as it has all its rounds.
- Deadlines: rectifications reported in the month, by the deadline (SLA) they
  run against. The emergency-repair clock stops at arrival (the first `start`,
  or a `fix` without one); every other clock stops at the fix that stands (a
  reopened one no longer counts). Stopped by the deadline: in time; not stopped
  and past it: late; neither: pending, left out of the rate.
- Complaints handled: complaints reported in the month, decided as above.
- Repair follow-up: repairs reported in the month and verified; followed up = a
  follow-up call (回访) is recorded.
- Public lighting intact: lights in the register vs lights reported broken
  (lighting rectifications) and not fixed at the end of the month (or now).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from server import i18n, standard
from server.console import slots
from server.console.access import SiteClock, now
from server.errors import Invalid
from server.rectifications.tables import Rectification, RectTransition
from server.reports.periods import SCHEDULED, periods_ending_in
from server.rounds.tables import Round, RoundTemplate, TemplateItem
from server.sites.tables import Light, SiteFigure

FIXED_STATES = ("fixed", "verified")
YEARLY_RATES = ("rate.owner_contact", "rate.satisfaction")


@dataclass
class Figure:
    """One line of the report: a measured percentage against its target, and where its records are."""

    key: str
    label_zh: str
    label_en: str
    numerator: int
    denominator: int
    target: float | None
    link: str = ""
    target_zh: str = ""
    target_en: str = ""
    extrapolated: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    measured: bool = True

    @property
    def value(self) -> float | None:
        if not self.measured or self.denominator == 0:
            return None
        return round(100.0 * self.numerator / self.denominator, 1)

    @property
    def passed(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return 100.0 * self.numerator >= self.target * self.denominator - 1e-9


@dataclass
class DayCoverage:
    """One local day of patrol windows: how many were due and how they ended, and the checkpoint visits."""

    day: date
    due: int = 0
    on_time: int = 0
    late: int = 0
    incomplete: int = 0
    missed: int = 0
    covered: int = 0  # checkpoint visits covered (done on time: all; incomplete: its visited part)
    required: int = 0  # checkpoint visits required by the day's counted windows

    @property
    def rate(self) -> float | None:
        """The day's coverage: checkpoint visits covered / required."""
        return round(100.0 * self.covered / self.required, 1) if self.required else None


@dataclass
class Report:
    site_id: uuid.UUID
    site_name: str
    level: int
    year: int
    month: int
    as_of: datetime
    patrol: Figure
    daily: list[DayCoverage]
    rounds: list[Figure]
    deadlines: list[Figure]
    rates: list[Figure]

    @property
    def figures(self) -> list[Figure]:
        return [self.patrol, *self.rounds, *self.deadlines, *self.rates]

    @property
    def failing(self) -> list[Figure]:
        return [f for f in self.figures if f.passed is False]

    @property
    def month_text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(text: str | None, clock: SiteClock) -> tuple[int, int]:
    """A "YYYY-MM" month; the site's current month when empty."""
    if not text:
        today = clock.today()
        return today.year, today.month
    try:
        year, month = (int(p) for p in text.split("-"))
        date(year, month, 1)
    except ValueError as exc:
        raise Invalid("月份格式应为 YYYY-MM / the month must look like 2026-11", code="bad_month") from exc
    if not 2000 <= year <= 2200:
        raise Invalid("月份超出范围 / month out of range", code="bad_month")
    return year, month


def _url(base: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{base}?{urlencode(clean)}" if clean else base


async def _figures(site_id: Any) -> dict[str, dict[str, Any]]:
    rows = await SiteFigure.select(SiteFigure.code, SiteFigure.value, SiteFigure.extrapolated).where(
        SiteFigure.site == site_id)
    return {r["code"]: r for r in rows}


async def patrol_coverage(clock: SiteClock, start: datetime, end: datetime,
                          at: datetime) -> tuple[dict[str, int], list[DayCoverage]]:
    """Patrol windows of the month by outcome, and checkpoint visits covered of required, in total and per day."""
    days: dict[date, DayCoverage] = {}
    day = clock.local(start).date()
    while clock.day_start(day) < end:
        days[day] = DayCoverage(day)
        day += timedelta(days=1)
    totals = {"due": 0, "on_time": 0, "late": 0, "incomplete": 0, "missed": 0, "pending": 0, "covered": 0,
              "required": 0}
    templates = await slots.patrol_templates(clock.site.id)
    items = await _item_counts([t.id for t in templates])
    for w in await slots.windows(clock.site, templates, list(days), at):
        status = w["status"]
        if status == "pending":
            totals["pending"] += 1
            continue
        required = w["required"] if w["required"] is not None else items.get(w["template"], 0)
        if status == "done":
            covered = required if w["visited"] is None else min(w["visited"], required)
        elif status == "incomplete":
            covered = min(w["visited"] or 0, required)
        else:  # late, missed
            covered = 0
        key = {"done": "on_time"}.get(status, status)
        bucket = days[clock.local(w["window_start"]).date()]
        for name, n in (("due", 1), (key, 1), ("covered", covered), ("required", required)):
            totals[name] += n
            setattr(bucket, name, getattr(bucket, name) + n)
    return totals, list(days.values())


async def _item_counts(template_ids: list[Any]) -> dict[Any, int]:
    """How many checkpoints each template requires (its items)."""
    counts: dict[Any, int] = defaultdict(int)
    if template_ids:
        for row in await TemplateItem.select(TemplateItem.template).where(TemplateItem.template.is_in(template_ids)):
            counts[row["template"]] += 1
    return counts


async def scheduled_rounds(clock: SiteClock, year: int, month: int, at: datetime,
                           templates: dict[Any, dict[str, Any]], base: str) -> list[Figure]:
    """Per scheduled template: rounds finished per period of its frequency, against what it asks."""
    figures = []
    today = clock.today(at)
    for tid, t in sorted(templates.items(), key=lambda kv: (kv[1]["kind"], kv[1]["code"])):
        freq = t["frequency"] or {}
        if not t["active"] or freq.get("period") not in SCHEDULED:
            continue
        times = max(1, int(freq.get("times") or 1))
        periods = list(periods_ending_in(year, month, freq["period"], int(freq.get("every") or 1)))
        if not periods:
            continue
        first, last = clock.day_start(periods[0][0]), clock.day_start(periods[-1][1])
        rounds = await Round.select(Round.started_at).where(
            (Round.template == tid) & (Round.state == "finished") & (Round.started_at >= first)
            & (Round.started_at < last))
        per_day: dict[date, int] = defaultdict(int)
        for r in rounds:
            per_day[clock.local(r["started_at"]).date()] += 1
        done = expected = 0
        for p_start, p_end in periods:
            if clock.day_start(p_end) <= clock.site.created_at:
                continue  # the site did not exist yet
            count = sum(n for d, n in per_day.items() if p_start <= d < p_end)
            if p_end <= today or count >= times:
                expected += times
                done += min(count, times)
        figures.append(Figure(
            key=f"rounds:{t['code']}", label_zh=t["name_zh"], label_en=t["name_en"], numerator=done,
            denominator=expected, target=100.0, target_zh=freq.get("text_zh", ""), target_en=freq.get("text_en", ""),
            extrapolated=bool(t.get("extrapolated")),
            link=_url(f"{base}/logs/inspection", template=str(tid), **{"from": periods[0][0].isoformat(),
                      "to": (periods[-1][1] - timedelta(days=1)).isoformat()}),
        ))
    return figures


def clock_outcome(rect: dict[str, Any], steps: list[dict[str, Any]], at: datetime) -> tuple[str, datetime | None]:
    """("in_time" | "late" | "pending", the time the clock stopped) for one rectification."""
    code = rect["sla_code"] or "sla.finding"
    try:
        kind = standard.deadline_row(code).get("clock", "fix")
    except StopIteration:
        kind = "fix"
    stopped: datetime | None = None
    if kind == "start":
        arrivals = [s["at"] for s in steps if s["action"] in ("start", "fix")]
        stopped = min(arrivals) if arrivals else None
    elif rect["state"] in FIXED_STATES:
        fixes = [s["at"] for s in steps if s["action"] == "fix"]
        stopped = fixes[-1] if fixes else rect.get("fixed_at")
    due = rect["due_at"]
    if stopped is not None:
        return ("in_time" if due is None or stopped <= due else "late"), stopped
    if due is not None and due < at:
        return "late", None
    return "pending", None


async def _applied_steps(rect_ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    steps: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if not rect_ids:
        return steps
    rows = await RectTransition.select(
        RectTransition.rectification, RectTransition.action, RectTransition.to_state, RectTransition.at,
        RectTransition.position,
    ).where(RectTransition.rectification.is_in(rect_ids) & (RectTransition.outcome == "applied")).order_by(
        RectTransition.position)
    for row in rows:
        steps[row["rectification"]].append(row)
    return steps


async def month_rectifications(site_id: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return await Rectification.select(
        Rectification.id, Rectification.category, Rectification.severity, Rectification.sla_code,
        Rectification.state, Rectification.due_at, Rectification.created_at, Rectification.fixed_at,
        Rectification.verified_at, Rectification.followup_at, Rectification.source,
    ).where((Rectification.site == site_id) & (Rectification.created_at >= start) & (Rectification.created_at < end))


def deadline_figures(rects: list[dict[str, Any]], steps: dict[Any, list[dict[str, Any]]], at: datetime,
                     figures: dict[str, dict[str, Any]], base: str, frm: str, to: str) -> list[Figure]:
    by_code: dict[str, dict[str, int]] = defaultdict(lambda: {"in_time": 0, "late": 0, "pending": 0})
    for rect in rects:
        outcome, _ = clock_outcome(rect, steps.get(rect["id"], []), at)
        by_code[rect["sla_code"] or "sla.finding"][outcome] += 1
    out = []
    order = [d["code"] for d in standard.standard()["deadlines"]]
    for code in sorted(by_code, key=lambda c: order.index(c) if c in order else len(order)):
        counts = by_code[code]
        row = next((d for d in standard.standard()["deadlines"] if d["code"] == code), {"zh": code, "en": code})
        minutes = figures.get(code, {}).get("value")
        limit_zh, limit_en = _minutes_text(minutes, bool(row.get("same_day")))
        out.append(Figure(
            key=f"sla:{code}", label_zh=row["zh"], label_en=row["en"], numerator=counts["in_time"],
            denominator=counts["in_time"] + counts["late"], target=100.0,
            target_zh=f"{limit_zh}内", target_en=f"within {limit_en}",
            extrapolated=bool(figures.get(code, {}).get("extrapolated")), detail=counts,
            link=_url(f"{base}/logs/rectifications", sla=code, **{"from": frm, "to": to}),
        ))
    return out


def _minutes_text(minutes: float | None, same_day: bool) -> tuple[str, str]:
    if same_day:
        return "当天", "the same day"
    if minutes is None:
        return "—", "—"
    m = int(minutes)
    if m % 1440 == 0 and m >= 1440:
        return f"{m // 1440}天", f"{m // 1440} d"
    if m % 60 == 0 and m >= 60:
        return f"{m // 60}小时", f"{m // 60} h"
    return f"{m}分钟", f"{m} min"


def _state_at(steps: list[dict[str, Any]], moment: datetime) -> str:
    state = "open"
    for step in steps:
        if step["at"] <= moment:
            state = step["to_state"]
    return state


async def lighting(site_id: Any, moment: datetime) -> tuple[int, int]:
    """(lights in the register, lights reported broken and not fixed at `moment`)."""
    lights = await Light.select(Light.count).where((Light.site == site_id) & (Light.retired == False))  # noqa: E712
    total = sum(max(0, r["count"]) for r in lights)
    rects = await Rectification.select(Rectification.id, Rectification.verified_at).where(
        (Rectification.site == site_id) & (Rectification.category == "lighting")
        & (Rectification.created_at <= moment))
    candidates = [r["id"] for r in rects if r["verified_at"] is None or r["verified_at"] > moment]
    steps = await _applied_steps(candidates)
    broken = sum(1 for rid in candidates if _state_at(steps.get(rid, []), moment) not in FIXED_STATES)
    return total, min(broken, total)


async def compliance_report(clock: SiteClock, year: int, month: int, at: datetime | None = None) -> Report:
    """Every figure of the month for this site, as of `at` (default now)."""
    at = at or now()
    site = clock.site
    start, end = clock.month_range(year, month)
    as_of = min(at, end)
    base = f"/console/sites/{site.id}"
    frm, to = clock.local(start).date().isoformat(), (clock.local(end).date() - timedelta(days=1)).isoformat()
    figures = await _figures(site.id)
    templates = {r["id"]: r for r in await RoundTemplate.select(
        RoundTemplate.id, RoundTemplate.code, RoundTemplate.kind, RoundTemplate.name_zh, RoundTemplate.name_en,
        RoundTemplate.frequency, RoundTemplate.active, RoundTemplate.extrapolated,
    ).where(RoundTemplate.site == site.id).output(load_json=True)}

    totals, daily = await patrol_coverage(clock, start, end, at)
    coverage_target = figures.get("rate.patrol_coverage", {}).get("value", 100.0)
    patrol = Figure(
        key="rate.patrol_coverage", label_zh=i18n.translate("zh-CN", "console.report.patrol_coverage"),
        label_en=i18n.translate("en", "console.report.patrol_coverage"),
        numerator=totals["covered"], denominator=totals["required"], target=coverage_target, detail=totals,
        link=_url(f"{base}/logs/slots", month=f"{year:04d}-{month:02d}"),
    )
    rounds = await scheduled_rounds(clock, year, month, at, templates, base)

    rects = await month_rectifications(site.id, start, end)
    steps = await _applied_steps([r["id"] for r in rects])
    deadlines = deadline_figures(rects, steps, at, figures, base, frm, to)

    rates = []
    total_lights, broken = await lighting(site.id, as_of)
    rates.append(_rate_figure("rate.lighting_intact", figures, total_lights - broken, total_lights,
                              _url(f"{base}/logs/rectifications", category="lighting", state="unfixed"),
                              {"lights": total_lights, "broken": broken}))
    repairs = [r for r in rects if r["category"] == "repair" and r["state"] == "verified"]
    followed = sum(1 for r in repairs if r["followup_at"] is not None)
    rates.append(_rate_figure("rate.repair_followup", figures, followed, len(repairs),
                              _url(f"{base}/logs/rectifications", category="repair", state="verified",
                                   **{"from": frm, "to": to}),
                              {"verified": len(repairs), "followed": followed}))
    complaints = [clock_outcome(r, steps.get(r["id"], []), at)[0] for r in rects if r["category"] == "complaint"]
    handled = complaints.count("in_time")
    rates.append(_rate_figure("rate.complaint_handled", figures, handled, handled + complaints.count("late"),
                              _url(f"{base}/logs/rectifications", category="complaint", **{"from": frm, "to": to}),
                              {"pending": complaints.count("pending"), "late": complaints.count("late")}))
    for code in YEARLY_RATES:
        fig = _rate_figure(code, figures, 0, 0, "", {})
        fig.measured = False
        rates.append(fig)
    return Report(site_id=site.id, site_name=site.name, level=site.level, year=year, month=month, as_of=as_of,
                  patrol=patrol, daily=daily, rounds=rounds, deadlines=deadlines, rates=rates)


def _rate_figure(code: str, figures: dict[str, dict[str, Any]], numerator: int, denominator: int, link: str,
                 detail: dict[str, Any]) -> Figure:
    row = next(r for r in standard.standard()["rates"] if r["code"] == code)
    fig = figures.get(code, {})
    target = fig.get("value")
    return Figure(key=code, label_zh=row["zh"], label_en=row["en"], numerator=numerator, denominator=denominator,
                  target=target, target_zh=f"≥ {target:g}%" if target is not None else "",
                  target_en=f"≥ {target:g}%" if target is not None else "",
                  extrapolated=bool(fig.get("extrapolated")), link=link, detail=detail)
