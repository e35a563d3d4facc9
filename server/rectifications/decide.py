"""Deciding the rectification log's steps on plain data: a finding, a phone's or the console's transition,
a reception request, a new deadline, the follow-up call.

Each `decide_*` judges on a `World` (server/decisions.py) in the contract's
order (not_found -> id_reused -> forbidden -> photo_required / bad_assignee ->
conflict -> applied), raises the domain's error before it changes anything, and
otherwise adds rows to `RectRows` and updates the world (the rectification's
row, its history's length) so the next step sees it. `server/rectifications/writer.py`
writes the rows: the sync push, a single op, the console and reception come through here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server import events, standard
from server.decisions import Outcome, World, claim, not_found
from server.errors import Conflict, Invalid, NotFound
from server.photos.links import PhotoLinks
from server.rounds.schedule import loaded
from server.staff.services import check_site, is_field_member
from server.staff.tables import FIELD_ROLES, SUPERVISOR_ROLES

STATES = ("open", "assigned", "in_progress", "fixed", "reopened", "verified")
ACTIONS = ("assign", "start", "fix", "verify", "reopen", "comment")
SEVERITIES = ("emergency", "normal")
MEMBER_ROLES = FIELD_ROLES + SUPERVISOR_ROLES

# shared/SYNC.md, "Rectification state machine": (state, action) -> new state.
_MACHINE: dict[tuple[str, str], str] = {
    ("open", "assign"): "assigned", ("open", "start"): "in_progress", ("open", "fix"): "fixed",
    ("assigned", "assign"): "assigned", ("assigned", "start"): "in_progress", ("assigned", "fix"): "fixed",
    ("in_progress", "assign"): "assigned", ("in_progress", "fix"): "fixed",
    ("fixed", "verify"): "verified", ("fixed", "reopen"): "reopened",
    ("reopened", "assign"): "assigned", ("reopened", "start"): "in_progress", ("reopened", "fix"): "fixed",
}


def next_state(state: str, action: str) -> str | None:
    """The state after `action`, or None when the action is a conflict in `state` (comment never moves it)."""
    if action == "comment":
        return state
    return _MACHINE.get((state, action))


@dataclass
class RectRows:
    """Rows decided but not written yet, and the events to publish once they commit."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    new: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # rectifications to insert
    changed: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # existing ones to update
    transitions: list[dict[str, Any]] = field(default_factory=list)
    reported: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (finding, rect)
    events: list[Any] = field(default_factory=list)  # published after the commit

    def __bool__(self) -> bool:
        return bool(self.findings or self.new or self.changed or self.transitions)


def sla_deadline(code: str, minutes: float, start: datetime, timezone: str, level: int) -> tuple[datetime, str]:
    """The deadline of a clock started at `start` under the site's own figure, and why (pure)."""
    due = standard.due_at(code, minutes, start, timezone)
    row = standard.deadline_row(code)
    reason = f"{row['zh']} / {row['en']}: {minutes:g} min ({standard.standard()['levels'][str(level)]['zh']})"
    return due, reason


def check_category(category: str, severity: str) -> None:
    if category not in standard.category_codes():
        raise Invalid(f"未知的问题类别 / unknown category: {category}")
    if severity not in SEVERITIES:
        raise Invalid(f"未知的紧急程度 / unknown severity: {severity}")


def _deadline(world: World, site_id: Any, category: str, severity: str, start: datetime) -> tuple[str, datetime, str]:
    site = world.sites.get(site_id)
    if site is None:
        raise NotFound("没有这个小区 / no such site")
    code = standard.sla_code_for(category, severity)
    minutes = world.figures.get((site_id, code))
    if minutes is None:
        raise NotFound(f"no figure {code} for this site")
    due, reason = sla_deadline(code, minutes, start, site.timezone, site.level)
    return code, due, reason


def _new_rect(world: World, rows: RectRows, *, rect_id: Any, site_id: Any, category: str, severity: str, source: str,
              note: str, start: datetime, finding_id: Any = None, photos_before: list[str] | None = None,
              photos_missing: int = 0, resident_unit: str = "", resident_contact: str = "") -> dict[str, Any]:
    code, due, reason = _deadline(world, site_id, category, severity, start)
    rect = {
        "id": rect_id, "site": site_id, "finding": finding_id, "source": source, "category": category,
        "severity": severity, "state": "open", "sla_code": code, "due_at": due, "due_reason": reason, "note": note,
        "assignee": None, "photos_before": photos_before or [], "photos_after": [], "photos_missing": photos_missing,
        "resident_unit": resident_unit, "resident_contact": resident_contact, "created_at": start,
        "updated_at": world.clock.received_at, "started_at": None, "fixed_at": None, "verified_at": None,
        "followup_at": None, "followup_outcome": "", "overdue_flagged": False, "seq": world.seq,
    }
    rows.new[rect_id] = rect
    world.rects[rect_id] = rect
    world.positions[rect_id] = 0
    return rect


def decide_finding(world: World, rows: RectRows, links: PhotoLinks, data: dict[str, Any],
                   device_at: datetime) -> Outcome:
    """A finding from the field, opening its rectification (same id) with the site's deadline."""
    site_id = data["site_id"]
    if site_id not in world.site_ids:
        raise not_found(("这个小区", "site"))
    if data.get("checkpoint_id") is not None:
        checkpoint = world.checkpoints.get(data["checkpoint_id"])
        if checkpoint is None or checkpoint.site != site_id:
            raise not_found(("这个巡查点", "checkpoint"))
    if data.get("zone_id") is not None and world.zones.get(data["zone_id"]) != site_id:
        raise not_found(("这个区域", "zone"))
    round_id = data.get("round_id")  # a service's caller may name the round without a visit
    if data.get("visit_id") is not None:
        visit = world.visits.get(data["visit_id"])
        if visit is None or visit[0] != site_id:
            raise not_found(("这次到点记录", "visit"))
        round_id = visit[1]
    finding_id = data["finding_id"]
    claim(world, finding_id, "finding_id")
    check_category(data["category"], data["severity"])
    clock = world.clock
    at = clock.corrected(device_at)
    shas = data["photos"]
    finding = {
        "id": finding_id, "site": site_id, "category": data["category"], "severity": data["severity"],
        "checkpoint": data.get("checkpoint_id"), "zone": data.get("zone_id"), "visit": data.get("visit_id"),
        "note": data["note"], "photos": shas, "lat": data.get("lat"), "lng": data.get("lng"),
        "reporter": world.user.id, "reported_at": at, "reported_device_at": device_at, "skew_flag": clock.flagged,
    }
    code, due, reason = _deadline(world, site_id, data["category"], data["severity"], at)  # before any row
    missing = links.link(world.photos, site_id, "finding", finding_id, shas, round_id)
    rows.findings.append(finding)
    rect = _new_rect(world, rows, rect_id=finding_id, site_id=site_id, category=data["category"],
                     severity=data["severity"], source="field", note=data["note"], start=at, finding_id=finding_id,
                     photos_before=shas, photos_missing=len(missing))
    rows.reported.append((finding, rect))
    world.taken.add(finding_id)
    return Outcome("applied", state="open", missing_photos=missing)


def _step(world: World, rows: RectRows, rect: dict[str, Any], action: str, outcome: str, before: str, after: str,
          *, note: str, photos: list[str], at: datetime, device_at: Any, source: str, op_id: Any = None,
          assignee: Any = None, step_id: Any = None) -> dict[str, Any]:
    world.positions[rect["id"]] = world.positions.get(rect["id"], 0) + 1
    step = {"id": step_id or uuid.uuid4(), "rectification": rect["id"], "action": action, "outcome": outcome,
            "from_state": before, "to_state": after, "actor": world.user.id, "assignee": assignee, "note": note,
            "photos": photos, "at": at, "device_at": device_at, "received_at": world.clock.received_at,
            "op_id": op_id, "source": source, "position": world.positions[rect["id"]],
            "skew_flag": world.clock.flagged}
    rows.transitions.append(step)
    return step


def _touch(world: World, rows: RectRows, rect: dict[str, Any]) -> None:
    rect["seq"], rect["updated_at"] = world.seq, world.clock.received_at
    if rect["id"] not in rows.new:
        rows.changed[rect["id"]] = rect


def decide_transition(world: World, rows: RectRows, links: PhotoLinks, data: dict[str, Any], device_at: Any,
                      *, op_id: Any = None, source: str = "phone") -> Outcome:
    """One step of the state machine: applied, or kept in the history as a conflict with the current state."""
    rect = world.rects.get(data["rect_id"])
    if rect is None:
        raise NotFound("没有这条整改 / no such rectification")
    action, assignee_id, shas = data["action"], data.get("assignee_id"), list(dict.fromkeys(data.get("photos") or []))
    if action not in ACTIONS:
        raise Invalid(f"未知的操作 / unknown action: {action}")
    if action in ("assign", "verify", "reopen"):
        check_site(world.user, world.site_ids, rect["site"], SUPERVISOR_ROLES)
    elif action in ("start", "fix") and rect["assignee"] is not None and rect["assignee"] != world.user.id:
        # Someone else holds the work: only supervisors may step in (e.g. at reception).
        check_site(world.user, world.site_ids, rect["site"], SUPERVISOR_ROLES)
    else:
        check_site(world.user, world.site_ids, rect["site"], MEMBER_ROLES)
    if action == "fix" and not shas:
        raise Invalid("完成整改需要至少一张照片 / a fix needs at least one photo", code="photo_required")
    if action == "assign" and (assignee_id is None or not is_field_member(
            world.staff.get(assignee_id), world.staff_sites.get(assignee_id, ()), rect["site"])):
        raise Invalid("只能指派给本小区在职的一线员工 / assign to active field staff of this site",
                      code="bad_assignee")
    at = world.clock.corrected(device_at) if device_at is not None else world.clock.received_at
    before = rect["state"]
    after = next_state(before, action)
    step_id = uuid.uuid4()
    missing: list[str] = []
    if after is None:
        if shas:  # a conflicting step keeps its evidence in the history too
            missing = links.link(world.photos, rect["site"], "transition", step_id, shas)
        _touch(world, rows, rect)
        _step(world, rows, rect, action, "conflict", before, before, note=data.get("note", ""), photos=shas, at=at,
              device_at=device_at, source=source, op_id=op_id,
              assignee=assignee_id if action == "assign" else rect["assignee"], step_id=step_id)
        return Outcome("conflict", state=before, missing_photos=missing)
    if action == "assign":
        rect["assignee"] = assignee_id
    elif action in ("start", "fix") and rect["assignee"] is None:
        rect["assignee"] = world.user.id  # whoever takes unassigned work becomes its assignee
    if action == "start" and rect["started_at"] is None:
        rect["started_at"] = at  # arrival on site stops the emergency clock
    if action == "fix":
        rect["fixed_at"] = at
        rect["photos_after"] = list(dict.fromkeys([*(loaded(rect["photos_after"]) or []), *shas]))
        missing = links.link(world.photos, rect["site"], "rect_after", rect["id"], shas)
        rect["photos_missing"] += len(missing)
    elif shas:
        missing = links.link(world.photos, rect["site"], "transition", step_id, shas)
    if action == "verify":
        rect["verified_at"] = at
    if action == "reopen":
        rect["fixed_at"] = None
    rect["state"] = after
    _touch(world, rows, rect)
    _step(world, rows, rect, action, "applied", before, after, note=data.get("note", ""), photos=shas, at=at,
          device_at=device_at, source=source, op_id=op_id,
          assignee=assignee_id if action == "assign" else rect["assignee"], step_id=step_id)
    if action == "assign":
        rows.events.append(events.RectificationAssigned(dict(rect)))
    elif action == "reopen":
        rows.events.append(events.RectificationReopened(dict(rect)))
    return Outcome("applied", state=after, missing_photos=missing)


def decide_reception(world: World, rows: RectRows, site_id: Any, category: str, severity: str, *, note: str,
                     resident_unit: str, resident_contact: str, at: datetime) -> dict[str, Any]:
    """A resident's repair request or complaint logged at reception (supervisors only), with its opening step."""
    check_category(category, severity)
    check_site(world.user, world.site_ids, site_id, SUPERVISOR_ROLES)
    rect = _new_rect(world, rows, rect_id=uuid.uuid4(), site_id=site_id, category=category, severity=severity,
                     source="reception", note=note, start=at, resident_unit=resident_unit,
                     resident_contact=resident_contact)
    _step(world, rows, rect, "open", "applied", "", "open", note=note, photos=[], at=at, device_at=at,
          source="console")
    return rect


def _console_rect(world: World, rect_id: Any, site_id: Any) -> dict[str, Any]:
    rect = world.rects.get(rect_id)
    if rect is None or rect["site"] != site_id:
        raise NotFound("没有这条整改 / no such rectification")
    return rect


def decide_deadline(world: World, rows: RectRows, rect_id: Any, site_id: Any, due: datetime, reason: str,
                    at: datetime) -> dict[str, Any]:
    """A new deadline with its reason; the history keeps the old one (site-local times). Not once verified."""
    rect = _console_rect(world, rect_id, site_id)
    if rect["state"] == "verified":
        raise Conflict("已验收的整改不能调整期限 / a verified rectification keeps its deadline", code="stale",
                       state=rect["state"])
    zone = ZoneInfo(world.sites[site_id].timezone)
    old = rect["due_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M") if rect["due_at"] else "—"
    new = due.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    rect.update(due_at=due, due_reason=reason, overdue_flagged=due < at)
    _touch(world, rows, rect)
    rect["updated_at"] = at
    _step(world, rows, rect, "deadline", "applied", rect["state"], rect["state"], note=f"{old} → {new}: {reason}",
          photos=[], at=at, device_at=at, source="console", assignee=rect["assignee"])
    return rect


def decide_followup(world: World, rows: RectRows, rect_id: Any, site_id: Any, outcome: str,
                    at: datetime) -> dict[str, Any]:
    """The follow-up call (回访) to the resident after a verified repair or complaint; once."""
    rect = _console_rect(world, rect_id, site_id)
    if rect["state"] != "verified":
        raise Conflict("验收后才能回访 / follow up once the work is verified", code="stale", state=rect["state"])
    if rect["followup_at"] is not None:
        raise Conflict("已经回访过 / already followed up", code="duplicate", state=rect["state"])
    rect.update(followup_at=at, followup_outcome=outcome[:200])
    _touch(world, rows, rect)
    rect["updated_at"] = at
    _step(world, rows, rect, "followup", "applied", rect["state"], rect["state"], note=outcome, photos=[], at=at,
          device_at=at, source="console", assignee=rect["assignee"])
    return rect
