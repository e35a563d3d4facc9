"""The inspection log (visits with their round and answers), the rectification log and the slot log,
filtered and paged for the page, whole for the CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from server import i18n, standard
from server.console import slots
from server.console.access import SiteClock, now
from server.console.filters import PAGE_SIZE, LogFilter
from server.console.lookups import staff_names
from server.rectifications.tables import Rectification
from server.rounds.tables import CheckAnswer, Visit

CSV_LIMIT = 50_000


def category_name(code: str, language: str) -> str:
    cat = standard.category(code)
    return i18n.pick(cat["zh"], cat["en"], language=language) if cat else code


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _date_range(clock: SiteClock, f: LogFilter, column: Any) -> list[Any]:
    where = []
    if f.date_from:
        where.append(column >= clock.day_start(f.date_from))
    if f.date_to:
        where.append(column < clock.day_start(f.date_to + timedelta(days=1)))
    return where


def _and(conditions: list[Any]) -> Any:
    out = conditions[0]
    for c in conditions[1:]:
        out = out & c
    return out


def inspection_where(clock: SiteClock, f: LogFilter) -> Any:
    w = [Visit.site == clock.site.id, *_date_range(clock, f, Visit.scanned_at)]
    if f.zone:
        w.append(Visit.checkpoint.zone == f.zone)
    if f.checkpoint:
        w.append(Visit.checkpoint == f.checkpoint)
    if f.role:
        w.append(Visit.staff.role == f.role)
    if f.person:
        w.append(Visit.staff == f.person)
    if f.category:
        w.append(Visit.round.template.kind == f.category)
    if f.template:
        w.append(Visit.round.template == f.template)
    if f.state:
        w.append(Visit.round.state == f.state)
    if f.problems:
        w.append((Visit.has_problem == True) | (Visit.proof_verified == False)  # noqa: E712
                 | (Visit.skew_flag == True) | (Visit.photos_missing > 0))  # noqa: E712
    return _and(w)


async def _visit_rows(where: Any, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = await Visit.select(
        Visit.id, Visit.round, Visit.checkpoint, Visit.staff, Visit.proof, Visit.proof_verified, Visit.scanned_at,
        Visit.scanned_device_at, Visit.received_at, Visit.lat, Visit.lng, Visit.photos, Visit.photos_missing,
        Visit.has_problem, Visit.skew_flag,
        Visit.checkpoint.name.as_alias("checkpoint_name"), Visit.checkpoint.zone.name.as_alias("zone_name"),
        Visit.staff.name.as_alias("staff_name"), Visit.staff.role.as_alias("staff_role"),
        Visit.round.state.as_alias("round_state"), Visit.round.template.name_zh.as_alias("template_zh"),
        Visit.round.template.name_en.as_alias("template_en"), Visit.round.template.kind.as_alias("kind"),
    ).where(where).order_by(Visit.scanned_at, ascending=False).limit(limit).offset(offset).output(load_json=True)
    if rows:
        answers = await CheckAnswer.select(CheckAnswer.visit, CheckAnswer.check_id, CheckAnswer.label_zh,
                                           CheckAnswer.ok, CheckAnswer.note).where(
            CheckAnswer.visit.is_in([r["id"] for r in rows])).order_by(CheckAnswer.id)
        by_visit: dict[Any, list[dict[str, Any]]] = {}
        for a in answers:
            by_visit.setdefault(a["visit"], []).append(a)
        for r in rows:
            r["answers"] = by_visit.get(r["id"], [])
    return rows


async def inspection_log(clock: SiteClock, f: LogFilter) -> Page:
    where = inspection_where(clock, f)
    total = await Visit.count().where(where)
    rows = await _visit_rows(where, PAGE_SIZE, (f.page - 1) * PAGE_SIZE)
    return Page(rows=rows, total=total, page=f.page)


def rect_where(clock: SiteClock, f: LogFilter) -> Any:
    w = [Rectification.site == clock.site.id, *_date_range(clock, f, Rectification.created_at)]
    if f.zone:
        w.append((Rectification.finding.zone == f.zone) | (Rectification.finding.checkpoint.zone == f.zone))
    if f.checkpoint:
        w.append(Rectification.finding.checkpoint == f.checkpoint)
    if f.role:
        w.append((Rectification.assignee.role == f.role) | (Rectification.finding.reporter.role == f.role))
    if f.person:
        w.append((Rectification.assignee == f.person) | (Rectification.finding.reporter == f.person))
    if f.category:
        w.append(Rectification.category == f.category)
    if f.sla:
        w.append(Rectification.sla_code == f.sla)
    if f.state == "unfixed":
        w.append(Rectification.state.not_in(["fixed", "verified"]))
    elif f.state == "unverified":
        w.append(Rectification.state != "verified")
    elif f.state:
        w.append(Rectification.state == f.state)
    if f.followup == "yes":
        w.append(Rectification.followup_at.is_not_null())
    elif f.followup == "no":
        w.append(Rectification.followup_at.is_null())
    if f.problems:
        w.append(((Rectification.due_at < now()) & Rectification.state.not_in(["fixed", "verified"]))
                 | (Rectification.state == "reopened") | (Rectification.overdue_flagged == True))  # noqa: E712
    return _and(w)


async def _rect_rows(where: Any, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = await Rectification.select(
        Rectification.id, Rectification.category, Rectification.severity, Rectification.state,
        Rectification.sla_code, Rectification.due_at, Rectification.created_at, Rectification.updated_at,
        Rectification.started_at, Rectification.fixed_at, Rectification.verified_at, Rectification.followup_at,
        Rectification.followup_outcome, Rectification.source, Rectification.note, Rectification.assignee,
        Rectification.resident_unit, Rectification.resident_contact, Rectification.photos_missing,
        Rectification.overdue_flagged,
        Rectification.finding.reporter.as_alias("reporter"),
        Rectification.finding.checkpoint.name.as_alias("checkpoint_name"),
        Rectification.finding.zone.name.as_alias("zone_name"),
    ).where(where).order_by(Rectification.created_at, ascending=False).limit(limit).offset(offset)
    names = await staff_names([r["assignee"] for r in rows] + [r["reporter"] for r in rows])
    at = now()
    for r in rows:
        r["assignee_name"] = (names.get(r["assignee"]) or {}).get("name", "")
        r["reporter_name"] = (names.get(r["reporter"]) or {}).get("name", "")
        r["overdue"] = r["due_at"] is not None and r["due_at"] < at and r["state"] not in ("fixed", "verified")
    return rows


async def rect_log(clock: SiteClock, f: LogFilter) -> Page:
    where = rect_where(clock, f)
    total = await Rectification.count().where(where)
    rows = await _rect_rows(where, PAGE_SIZE, (f.page - 1) * PAGE_SIZE)
    return Page(rows=rows, total=total, page=f.page)


async def slot_rows(clock: SiteClock, year: int, month: int, status: str) -> list[dict[str, Any]]:
    """Patrol windows of a month with their status as of now (the one rule, via slots.windows), oldest first."""
    start, end = clock.month_range(year, month)
    days = []
    day = clock.local(start).date()
    while clock.day_start(day) < end:
        days.append(day)
        day += timedelta(days=1)
    templates = await slots.patrol_templates(clock.site.id)
    names_of = {t.id: (t.name_zh, t.name_en) for t in templates}
    rows = await slots.windows(clock.site, templates, days, now())
    if status:
        rows = [r for r in rows if r["status"] == status]
    for r in rows:
        r["template_zh"], r["template_en"] = names_of[r["template"]]
    return rows


async def _with_staff_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = await staff_names(r["staff"] for r in rows)
    for r in rows:
        r["staff_name"] = (names.get(r["staff"]) or {}).get("name", "")
    return rows


async def slot_log(clock: SiteClock, year: int, month: int, status: str, page: int) -> Page:
    """Patrol windows of a month (the records behind the patrol coverage figure), as the report counts them."""
    rows = await slot_rows(clock, year, month, status)
    shown = await _with_staff_names(rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE])
    return Page(rows=shown, total=len(rows), page=page)


async def slot_csv(clock: SiteClock, year: int, month: int, status: str, language: str) -> str:
    """Every patrol window of the month as the slot log shows it, one row each."""
    rows = await _with_staff_names(await slot_rows(clock, year, month, status))
    t = lambda key, **params: i18n.translate(language, key, **params)  # noqa: E731
    header = [t(k) for k in ("console.col.window_start", "console.col.window_end", "console.col.round",
                             "console.col.state", "console.col.checkpoints", "console.col.person",
                             "console.col.round_id")]
    lines = []
    for r in rows:
        counted = r["required"] is not None
        state = (t("console.slot.incomplete_of", visited=r["visited"] or 0, required=r["required"])
                 if r["status"] == "incomplete" and counted else t(f"console.slot.{r['status']}"))
        lines.append([
            _fmt(clock, r["window_start"]), _fmt(clock, r["window_end"]),
            i18n.pick(r["template_zh"] or "", r["template_en"] or "", language=language), state,
            f"{r['visited'] or 0}/{r['required']}" if counted else "", r["staff_name"],
            str(r["round"]) if r["round"] else "",
        ])
    return _csv(header, lines)


def _fmt(clock: SiteClock, moment: Any) -> str:
    return clock.local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _cell(value: Any) -> Any:
    """A text cell Excel would run as a formula (=, +, -, @) is written as text: notes come from anyone."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese text correctly."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue()


async def inspection_csv(clock: SiteClock, f: LogFilter, language: str) -> str:
    rows = await _visit_rows(inspection_where(clock, f), CSV_LIMIT, 0)
    t = lambda key: i18n.translate(language, key)  # noqa: E731
    header = [t(k) for k in ("console.col.time", "console.col.device_time", "console.col.received", "console.col.round",
                             "console.col.round_state", "console.col.zone", "console.col.checkpoint",
                             "console.col.person", "console.col.role", "console.col.proof", "console.col.verified",
                             "console.col.answers", "console.col.problem", "console.col.photos",
                             "console.col.photos_missing", "console.col.skew", "console.col.position",
                             "console.col.visit_id")]
    lines = []
    for r in rows:
        answers = "; ".join(f"{a['label_zh'] or a['check_id']}: {'OK' if a['ok'] else 'NG'}"
                            + (f" ({a['note']})" if a["note"] else "") for a in r["answers"])
        position = f"{r['lat']:.6f},{r['lng']:.6f}" if r["lat"] is not None and r["lng"] is not None else ""
        lines.append([
            _fmt(clock, r["scanned_at"]), _fmt(clock, r["scanned_device_at"]), _fmt(clock, r["received_at"]),
            i18n.pick(r["template_zh"] or "", r["template_en"] or "", language=language), r["round_state"],
            r["zone_name"] or "", r["checkpoint_name"] or "", r["staff_name"] or "",
            i18n.translate(language, f"role.{r['staff_role']}"), r["proof"], "Y" if r["proof_verified"] else "N",
            answers, "Y" if r["has_problem"] else "", len(r["photos"] or []), r["photos_missing"],
            "Y" if r["skew_flag"] else "", position, str(r["id"]),
        ])
    return _csv(header, lines)


async def rect_csv(clock: SiteClock, f: LogFilter, language: str) -> str:
    rows = await _rect_rows(rect_where(clock, f), CSV_LIMIT, 0)
    t = lambda key: i18n.translate(language, key)  # noqa: E731
    header = [t(k) for k in ("console.col.created", "console.col.category", "console.col.severity",
                             "console.col.state", "console.col.due", "console.col.started", "console.col.fixed",
                             "console.col.verified_at", "console.col.followup", "console.col.source",
                             "console.col.zone", "console.col.checkpoint", "console.col.reporter",
                             "console.col.assignee", "console.col.resident_unit", "console.col.note",
                             "console.col.overdue", "console.col.rect_id")]
    lines = []
    for r in rows:
        lines.append([
            _fmt(clock, r["created_at"]), category_name(r["category"], language), t(f"console.severity.{r['severity']}"),
            t(f"console.state.{r['state']}"), _fmt(clock, r["due_at"]), _fmt(clock, r["started_at"]),
            _fmt(clock, r["fixed_at"]), _fmt(clock, r["verified_at"]),
            (_fmt(clock, r["followup_at"]) + " " + (r["followup_outcome"] or "")).strip(),
            t(f"console.source.{r['source']}"), r["zone_name"] or "", r["checkpoint_name"] or "", r["reporter_name"],
            r["assignee_name"], r["resident_unit"], r["note"], "Y" if r["overdue"] else "", str(r["id"]),
        ])
    return _csv(header, lines)


def export_name(kind: str, clock: SiteClock, f: LogFilter) -> str:
    """An ASCII file name (some browsers mangle non-ASCII ones in Content-Disposition)."""
    stamp = (f.date_from or clock.today()).isoformat()
    return f"xunjian-{kind}-{stamp}.csv"
