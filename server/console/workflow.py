"""The rectification workflow from the console: the same state machine and history as the phone's
`rect.transition` ops (server.rectifications.services.transition), plus the console's own steps
that do not move the state: a new deadline with its reason, the follow-up call (回访), and review."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from server import standard
from server.console.access import SiteClock, now
from server.console.evidence import photos_of
from server.console.lookups import field_staff, staff_names
from server.errors import Invalid, NotFound
from server.rectifications import services as rects
from server.rectifications.tables import Finding, Rectification, RectTransition
from server.rounds.tables import Visit
from server.staff.tables import Staff

CONSOLE_ACTIONS = ("assign", "verify", "reopen", "comment")
NOTE_MAX = 2000
REASON_REQUIRED = ("reopen",)


def _clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise Invalid(f"说明不能超过{NOTE_MAX}字 / a note is at most {NOTE_MAX} characters", code="too_long")
    return note


async def get_rect(clock: SiteClock, rect_id: Any) -> Rectification:
    """A rectification of this site (another site's is 404, as if it did not exist)."""
    rect = await Rectification.objects().where(
        (Rectification.id == rect_id) & (Rectification.site == clock.site.id)).output(load_json=True).first()
    if rect is None:
        raise NotFound("没有这条整改 / no such rectification")
    return rect


async def rect_detail(clock: SiteClock, rect_id: Any) -> dict[str, Any]:
    """A rectification with its finding, before and after photos, timeline and who it can go to."""
    rect = await get_rect(clock, rect_id)
    finding = None
    if rect.finding:
        finding = await Finding.select().where(Finding.id == rect.finding).output(load_json=True).first()
    steps = await RectTransition.select().where(RectTransition.rectification == rect.id).order_by(
        RectTransition.position).output(load_json=True)
    names = await staff_names([s["actor"] for s in steps] + [s["assignee"] for s in steps]
                              + [rect.assignee, finding["reporter"] if finding else None])
    step_photos = await photos_of([("transition", s["id"], s["photos"]) for s in steps
                                   if s["photos"] and s["action"] != "fix"])
    timeline = [{
        **s, "actor": names.get(s["actor"]), "assignee": names.get(s["assignee"]), "at": clock.local(s["at"]),
        "device_at": clock.local(s["device_at"]) if s["device_at"] else None,
        "received_at": clock.local(s["received_at"]),
        "photos": step_photos.get(("transition", str(s["id"])), []), "photo_count": len(s["photos"] or []),
    } for s in steps]
    if finding and not any(s["action"] == "open" for s in timeline):
        # A finding from the field opens its rectification without a step of its own: show the report as one.
        timeline.insert(0, {
            "id": finding["id"], "action": "open", "outcome": "applied", "from_state": "", "to_state": "open",
            "actor": names.get(finding["reporter"]), "assignee": None, "note": finding["note"],
            "at": clock.local(finding["reported_at"]), "device_at": clock.local(finding["reported_device_at"]),
            "received_at": clock.local(finding["received_at"]), "source": "phone",
            "skew_flag": finding["skew_flag"], "photos": [], "photo_count": len(finding["photos"] or []),
        })
    evidence = await photos_of([("finding", rect.id, rect.photos_before), ("rect_after", rect.id, rect.photos_after)])
    at = now()
    overdue = rect.due_at is not None and rect.due_at < at and rect.state not in ("fixed", "verified")
    visit = None
    if finding and finding["visit"]:
        visit = await Visit.select(Visit.id, Visit.round).where(Visit.id == finding["visit"]).first()
    return {
        "rect": rect, "finding": finding, "visit": visit, "timeline": timeline,
        "before": evidence[("finding", str(rect.id))], "after": evidence[("rect_after", str(rect.id))],
        "assignee": names.get(rect.assignee), "reporter": names.get(finding["reporter"]) if finding else None,
        "assignable": await field_staff(clock.site.id), "overdue": overdue,
        "soon": not overdue and rect.due_at is not None and rect.state not in ("fixed", "verified")
        and rect.due_at - at <= timedelta(hours=2),
        "allowed": {a: rects.next_state(rect.state, a) is not None for a in CONSOLE_ACTIONS},
        "can_follow_up": rect.state == "verified" and rect.source == "reception" and rect.followup_at is None,
        "can_change_deadline": rect.state != "verified",
    }


async def act(clock: SiteClock, user: Staff, rect_id: Any, action: str, *, assignee: str = "",
              note: str = "") -> rects.TransitionOutcome:
    """One console step through the shared state machine (applied, or kept in the history as a conflict)."""
    if action not in CONSOLE_ACTIONS:
        raise Invalid(f"未知的操作 / unknown action: {action}", code="invalid")
    rect = await get_rect(clock, rect_id)
    note = _clean_note(note)
    if action in REASON_REQUIRED and not note:
        raise Invalid("请填写退回原因 / give the reason for reopening", code="reason_required")
    if action == "comment" and not note:
        raise Invalid("请填写备注内容 / write the comment", code="invalid")
    assignee_id = None
    if action == "assign":
        try:
            assignee_id = uuid.UUID(assignee)
        except ValueError as exc:
            raise Invalid("请选择处理人 / choose who does the work", code="bad_assignee") from exc
    outcome = await rects.transition(rect.id, user, action, assignee_id=assignee_id, note=note, source="console")
    if action in ("assign", "verify", "reopen") and rect.finding:
        await mark_reviewed(clock, rect.finding)
    return outcome


def parse_local(clock: SiteClock, text: str) -> datetime:
    """A datetime-local form value ("2026-11-27T14:30") in the site's time zone, as UTC."""
    try:
        naive = datetime.fromisoformat((text or "").strip())
    except ValueError as exc:
        raise Invalid("时间格式无效 / not a valid date and time", code="bad_time") from exc
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=clock.zone)


async def change_deadline(clock: SiteClock, user: Staff, rect_id: Any, due_text: str, reason: str) -> Rectification:
    """A new deadline with its reason; the history keeps the old one. Not once verified."""
    reason = _clean_note(reason)
    if not reason:
        raise Invalid("请填写调整期限的原因 / give the reason for the new deadline", code="reason_required")
    return await rects.change_deadline(user, clock.site.id, rect_id, parse_local(clock, due_text), reason)


async def record_followup(clock: SiteClock, user: Staff, rect_id: Any, outcome: str) -> Rectification:
    """The follow-up call (回访) to the resident after a verified repair or complaint; once."""
    outcome = _clean_note(outcome)
    if not outcome:
        raise Invalid("请填写回访结果 / write what the resident said", code="reason_required")
    return await rects.record_followup(user, clock.site.id, rect_id, outcome)


async def mark_reviewed(clock: SiteClock, finding_id: Any) -> None:
    """A supervisor has looked at this finding's evidence (it leaves the Today review list)."""
    await rects.mark_reviewed(clock.site.id, finding_id)


async def open_request(clock: SiteClock, user: Staff, *, category: str, severity: str, unit: str, contact: str,
                       channel: str, note: str, assignee: str = "", agreed_at: str = "") -> Rectification:
    """A resident's repair request or complaint logged at reception, with its deadline from the standard."""
    if category not in ("repair", "complaint"):
        raise Invalid("接待只登记报修或投诉 / reception logs repairs and complaints", code="invalid")
    if severity not in rects.SEVERITIES:
        raise Invalid(f"未知的紧急程度 / unknown severity: {severity}", code="invalid")
    unit, contact, note = unit.strip()[:100], contact.strip()[:100], _clean_note(note)
    if not unit:
        raise Invalid("请填写楼栋/单元 / give the building and unit", code="invalid")
    if not note:
        raise Invalid("请填写问题描述 / describe the request", code="invalid")
    if channel not in ("phone", "walk_in", "other"):
        raise Invalid("未知的来源 / unknown channel", code="invalid")
    assignee_id = None
    if assignee:
        try:
            assignee_id = uuid.UUID(assignee)
        except ValueError as exc:
            raise Invalid("请选择处理人 / choose who does the work", code="bad_assignee") from exc
        if not await rects.is_active_field_member(assignee_id, clock.site.id):
            raise Invalid("只能指派给本小区在职的一线员工 / assign to active field staff of this site",
                          code="bad_assignee")
    agreed = parse_local(clock, agreed_at) if agreed_at.strip() else None
    channel_zh = {"phone": "来电", "walk_in": "来访", "other": "其他"}[channel]
    rect = await rects.open_reception(user, clock.site.id, category, severity, note=f"[{channel_zh}] {note}",
                                      resident_unit=unit, resident_contact=contact)
    if agreed is not None and standard.sla_code_for(category, severity) == "sla.scheduled_repair":
        rect = await change_deadline(clock, user, rect.id, agreed.isoformat(),
                                     "与住户约定的维修时间 / time agreed with the resident")
    if assignee_id is not None:
        await rects.transition(rect.id, user, "assign", assignee_id=assignee_id, source="console")
    return rect
