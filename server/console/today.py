"""The Today page of a site: patrol slots, findings to review, deadlines, clocks, gaps and syncs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from server.console import slots
from server.console.access import SiteClock, now
from server.console.lookups import field_staff, round_proofs, staff_names
from server.rectifications.tables import Finding, Rectification
from server.rounds.tables import Round, Visit
from server.settings import get_settings
from server.staff.tables import DeviceToken
from sync.tables import SyncOp

SOON = timedelta(hours=2)
SKEW_LOOKBACK = timedelta(hours=24)
OPEN_STATES = ("open", "assigned", "in_progress", "fixed", "reopened")


def deadline_flag(due_at: datetime | None, state: str, at: datetime) -> str:
    """overdue (red), soon (due within 2 h) or "" for a rectification still running against its clock."""
    if due_at is None or state in ("fixed", "verified"):
        return ""
    if due_at < at:
        return "overdue"
    if due_at - at <= SOON:
        return "soon"
    return ""


async def slot_grid(clock: SiteClock, at: datetime) -> list[dict[str, Any]]:
    """Today's patrol windows per round template, each with its status, guard and proof quality."""
    templates = await slots.patrol_templates(clock.site.id)
    windows = await slots.windows(clock.site, templates, [clock.today(at)], at)
    if not windows:
        return []
    by_id = {t.id: t for t in templates}
    round_ids = [w["round"] for w in windows if w["round"]]
    rounds = {}
    if round_ids:
        rounds = {r["id"]: r for r in await Round.select(Round.id, Round.staff).where(Round.id.is_in(round_ids))}
    names = await staff_names([w["staff"] for w in windows] + [r["staff"] for r in rounds.values()])
    proofs = await round_proofs(round_ids)
    grid: dict[Any, dict[str, Any]] = {}
    for w in windows:
        template = by_id[w["template"]]
        row = grid.setdefault(w["template"], {"template": {"name_zh": template.name_zh, "name_en": template.name_en},
                                              "slots": []})
        rnd = rounds.get(w["round"])
        guard_id = w["staff"] or (rnd["staff"] if rnd else None)
        status = w["status"]
        if status == "pending" and w["window_start"] <= at < w["window_end"]:
            status = "current"
        row["slots"].append({
            "id": w["id"], "status": status, "window_start": clock.local(w["window_start"]),
            "window_end": clock.local(w["window_end"]), "round_id": w["round"], "guard": names.get(guard_id),
            "proof": proofs.get(w["round"]) if w["round"] else None,
            "visited": w["visited"], "required": w["required"],
        })
    return list(grid.values())


async def findings_to_review(site_id: Any, limit: int = 20) -> list[dict[str, Any]]:
    rows = await Finding.select(
        Finding.id, Finding.category, Finding.severity, Finding.note, Finding.photos, Finding.reported_at,
        Finding.reporter, Finding.skew_flag,
    ).where((Finding.site == site_id) & (Finding.reviewed == False)).order_by(  # noqa: E712
        Finding.reported_at, ascending=False).limit(limit).output(load_json=True)
    names = await staff_names(r["reporter"] for r in rows)
    return [{**r, "reporter": names.get(r["reporter"])} for r in rows]


async def rectifications_by_deadline(site_id: Any, at: datetime, limit: int = 50) -> list[dict[str, Any]]:
    rows = await Rectification.select(
        Rectification.id, Rectification.category, Rectification.severity, Rectification.state,
        Rectification.due_at, Rectification.assignee, Rectification.note, Rectification.source,
        Rectification.resident_unit,
    ).where((Rectification.site == site_id) & Rectification.state.is_in(list(OPEN_STATES))).order_by(
        Rectification.due_at).limit(limit)
    names = await staff_names(r["assignee"] for r in rows)
    return [{**r, "assignee": names.get(r["assignee"]), "flag": deadline_flag(r["due_at"], r["state"], at)}
            for r in rows]


async def skewed_devices(site_id: Any, at: datetime) -> list[dict[str, Any]]:
    """Devices of the site's people whose clock was off by more than the flag threshold in the last day."""
    people = {p["id"]: p for p in await field_staff(site_id)}
    if not people:
        return []
    limit = get_settings().skew_flag_minutes * 60
    rows = await SyncOp.select(SyncOp.staff, SyncOp.device_id, SyncOp.skew_seconds, SyncOp.received_at).where(
        SyncOp.staff.is_in(list(people)) & (SyncOp.received_at >= at - SKEW_LOOKBACK)
        & ((SyncOp.skew_seconds > limit) | (SyncOp.skew_seconds < -limit))
    ).order_by(SyncOp.received_at, ascending=False)
    latest: dict[tuple[Any, str], dict[str, Any]] = {}
    for row in rows:
        latest.setdefault((row["staff"], row["device_id"]), row)
    # skew = server receipt time - device time: negative when the phone's clock runs fast.
    return [{"person": people[k[0]], "device_id": k[1], "skew_minutes": round(abs(v["skew_seconds"]) / 60),
             "fast": v["skew_seconds"] < 0, "seen_at": v["received_at"]} for k, v in latest.items()]


async def incomplete_records(site_id: Any, limit: int = 30) -> list[dict[str, Any]]:
    """Visits and rectifications still waiting for photos the phone has not uploaded."""
    visits = await Visit.select(Visit.id, Visit.round, Visit.staff, Visit.photos_missing, Visit.scanned_at).where(
        (Visit.site == site_id) & (Visit.photos_missing > 0)).order_by(Visit.scanned_at, ascending=False).limit(limit)
    rects = await Rectification.select(
        Rectification.id, Rectification.category, Rectification.photos_missing, Rectification.updated_at,
        Rectification.assignee,
    ).where((Rectification.site == site_id) & (Rectification.photos_missing > 0)).order_by(
        Rectification.updated_at, ascending=False).limit(limit)
    names = await staff_names([v["staff"] for v in visits] + [r["assignee"] for r in rects])
    out = [{"type": "visit", "id": v["id"], "round_id": v["round"], "missing": v["photos_missing"],
            "at": v["scanned_at"], "person": names.get(v["staff"])} for v in visits]
    out += [{"type": "rectification", "id": r["id"], "category": r["category"], "missing": r["photos_missing"],
             "at": r["updated_at"], "person": names.get(r["assignee"])} for r in rects]
    return sorted(out, key=lambda r: r["at"], reverse=True)


async def latest_syncs(site_id: Any) -> list[dict[str, Any]]:
    """Each field person of the site with the time their phone last reached the server."""
    people = await field_staff(site_id)
    if not people:
        return []
    ids = [p["id"] for p in people]
    tokens = await DeviceToken.select(DeviceToken.staff, DeviceToken.device_name, DeviceToken.last_sync_at).where(
        DeviceToken.staff.is_in(ids) & DeviceToken.last_sync_at.is_not_null())
    last: dict[Any, dict[str, Any]] = {}
    for t in tokens:
        if t["staff"] not in last or t["last_sync_at"] > last[t["staff"]]["at"]:
            last[t["staff"]] = {"at": t["last_sync_at"], "device": t["device_name"]}
    for person in people:
        op = await SyncOp.select(SyncOp.received_at, SyncOp.device_id).where(SyncOp.staff == person["id"]).order_by(
            SyncOp.received_at, ascending=False).first()
        if op and (person["id"] not in last or op["received_at"] > last[person["id"]]["at"]):
            last[person["id"]] = {"at": op["received_at"], "device": last.get(person["id"], {}).get("device", "")}
    return [{"person": p, **last.get(p["id"], {"at": None, "device": ""})} for p in people]


async def today(clock: SiteClock, at: datetime | None = None) -> dict[str, Any]:
    """Everything the Today page shows, as of `at` (default now)."""
    at = at or now()
    site_id = clock.site.id
    return {
        "at": clock.local(at),
        "grid": await slot_grid(clock, at),
        "findings": await findings_to_review(site_id),
        "rectifications": await rectifications_by_deadline(site_id, at),
        "skewed": await skewed_devices(site_id, at),
        "incomplete": await incomplete_records(site_id),
        "syncs": await latest_syncs(site_id),
    }
