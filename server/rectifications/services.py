"""The rectification log (整改记录): opening rectifications and the one state machine.

Public API (used by sync/ and by the supervisor console; keep signatures stable):

- ``next_state(state, action) -> str | None``: the state machine of shared/SYNC.md
  as a pure function (None: the action is not valid in this state, a conflict).
- ``deadline_for(site_id, category, severity, start) -> (sla_code, due_at, reason)``.
- ``report_finding(actor, finding_id, site_id, category, severity, ...) -> FindingOutcome``:
  a finding from the field, opening the rectification with ``id = finding_id``.
- ``open_reception(actor, site_id, category, severity, ...) -> Rectification``: a
  resident's repair request or complaint logged by a supervisor.
- ``transition(rect_id, actor, action, ...) -> TransitionOutcome``: one step, applied
  or kept in the history as a conflict, in receipt order.

Every write joins the caller's transaction when there is one (the sync push runs a
batch in one transaction). Notification hooks run after the commit: when the caller
owns the transaction, they come back in ``outcome.events`` for the caller to run
(``run_events``) once it has committed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable

from server import standard
from server.changes import next_position
from server.db import engine, is_sqlite, write_transaction
from server.errors import Invalid, NotFound
from server.notify import events
from server.photos.services import link_photos
from server.rounds.services import loaded
from server.rectifications.tables import Finding, Rectification, RectTransition
from server.sites.services import figure
from server.sites.tables import Site
from server.staff.services import require_site
from server.staff.tables import FIELD_ROLES, SUPERVISOR_ROLES, Staff, StaffSite

log = logging.getLogger("xunjian.rectifications")

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

Event = Callable[[], Awaitable[None]]


def next_state(state: str, action: str) -> str | None:
    """The state after `action`, or None when the action is a conflict in `state` (comment never moves it)."""
    if action == "comment":
        return state
    return _MACHINE.get((state, action))


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TransitionOutcome:
    status: str  # applied | conflict
    state: str  # the rectification's state after this step
    rectification: Rectification
    transition_id: uuid.UUID
    missing_photos: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # hooks still to run after the caller commits


@dataclass
class FindingOutcome:
    finding: Finding
    rectification: Rectification
    missing_photos: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


async def run_events(pending: Iterable[Event]) -> None:
    """Run notification hooks after a commit; a failing hook is logged, never raised."""
    for hook in pending:
        try:
            await hook()
        except Exception:  # noqa: BLE001 - a notification must never fail the write it reports
            log.exception("notification hook failed")


def _locked(query: Any) -> Any:
    # SQLite has one writer at a time (IMMEDIATE); PostgreSQL needs the row lock.
    return query if is_sqlite() else query.lock_rows()


async def deadline_for(site_id: Any, category: str, severity: str, start: datetime) -> tuple[str, datetime, str]:
    """The SLA code, deadline and a readable reason for a finding or request opened at `start` (corrected time)."""
    site = await Site.objects().where(Site.id == site_id).first()
    if site is None:
        raise NotFound("没有这个小区 / no such site")
    code = standard.sla_code_for(category, severity)
    due, reason = sla_deadline(code, await figure(site_id, code), start, site.timezone, site.level)
    return code, due, reason


def sla_deadline(code: str, minutes: float, start: datetime, timezone: str, level: int) -> tuple[datetime, str]:
    """The deadline of a clock started at `start` under the site's own figure, and why (pure)."""
    due = standard.due_at(code, minutes, start, timezone)
    row = standard.deadline_row(code)
    reason = f"{row['zh']} / {row['en']}: {minutes:g} min ({standard.standard()['levels'][str(level)]['zh']})"
    return due, reason


async def _new_rectification(*, rect_id: uuid.UUID, site_id: Any, category: str, severity: str, source: str,
                             note: str, start: datetime, finding_id: Any = None, photos_before: list[str] | None = None,
                             resident_unit: str = "", resident_contact: str = "") -> Rectification:
    code, due, reason = await deadline_for(site_id, category, severity, start)
    rect = Rectification(
        id=rect_id, site=site_id, finding=finding_id, source=source, category=category, severity=severity,
        state="open", sla_code=code, due_at=due, due_reason=reason, note=note,
        photos_before=photos_before or [], photos_after=[], resident_unit=resident_unit,
        resident_contact=resident_contact, created_at=start, updated_at=now(), seq=await next_position(),
    )
    await rect.save()
    return rect


def _check_category(category: str, severity: str) -> None:
    if category not in standard.category_codes():
        raise Invalid(f"未知的问题类别 / unknown category: {category}")
    if severity not in SEVERITIES:
        raise Invalid(f"未知的紧急程度 / unknown severity: {severity}")


async def report_finding(
    actor: Staff, finding_id: uuid.UUID, site_id: Any, category: str, severity: str, *,
    checkpoint_id: Any = None, zone_id: Any = None, visit_id: Any = None, note: str = "",
    photos: Iterable[str] = (), lat: float | None = None, lng: float | None = None,
    at: datetime | None = None, device_at: datetime | None = None, skew_flag: bool = False,
    round_id: Any = None,
) -> FindingOutcome:
    """Record a finding and open its rectification (same id) with the site's deadline.

    The caller has checked that the ids exist in the actor's sites; `at` is the
    corrected report time, which starts the SLA clock.
    """
    _check_category(category, severity)
    await require_site(actor, site_id)
    at = at or now()
    shas = list(dict.fromkeys(photos))
    outer = engine().transaction_exists()
    async with write_transaction():
        finding = Finding(
            id=finding_id, site=site_id, category=category, severity=severity, checkpoint=checkpoint_id,
            zone=zone_id, visit=visit_id, note=note, photos=shas, lat=lat, lng=lng, reporter=actor.id,
            reported_at=at, reported_device_at=device_at or at, skew_flag=skew_flag,
        )
        await finding.save()
        missing = await link_photos(site_id, "finding", finding_id, shas, round_id)
        rect = await _new_rectification(
            rect_id=finding_id, site_id=site_id, category=category, severity=severity, source="field",
            note=note, start=at, finding_id=finding_id, photos_before=shas,
        )
        if missing:
            rect.photos_missing = len(missing)
            await Rectification.update({Rectification.photos_missing: len(missing)}).where(
                Rectification.id == rect.id)
    pending: list[Event] = [lambda: events.finding_reported(finding, rect)]
    if not outer:
        await run_events(pending)
        pending = []
    return FindingOutcome(finding=finding, rectification=rect, missing_photos=missing, events=pending)


async def open_reception(
    actor: Staff, site_id: Any, category: str, severity: str = "normal", *, note: str = "",
    resident_unit: str = "", resident_contact: str = "", at: datetime | None = None,
) -> Rectification:
    """A resident's repair request or complaint logged at reception (supervisors only)."""
    _check_category(category, severity)
    await require_site(actor, site_id, SUPERVISOR_ROLES)
    at = at or now()
    async with write_transaction():
        rect = await _new_rectification(
            rect_id=uuid.uuid4(), site_id=site_id, category=category, severity=severity, source="reception",
            note=note, start=at, resident_unit=resident_unit, resident_contact=resident_contact,
        )
        await RectTransition.insert(RectTransition(
            rectification=rect.id, action="open", outcome="applied", from_state="", to_state="open",
            actor=actor.id, note=note, at=at, device_at=at, source="console", position=1,
        ))
    return rect


async def is_active_field_member(staff_id: Any, site_id: Any) -> bool:
    """Whether this person may be assigned work on this site (active field staff of the site)."""
    staff = await Staff.objects().where(Staff.id == staff_id).first()
    if staff is None or not staff.active or staff.role not in FIELD_ROLES:
        return False
    return await StaffSite.exists().where((StaffSite.staff == staff_id) & (StaffSite.site == site_id))


async def _judge(rect: Rectification, actor: Staff, action: str, assignee_id: Any, photos: list[str]) -> None:
    """Role rules and required data (shared/SYNC.md); raises NotFound, Forbidden or Invalid."""
    if action not in ACTIONS:
        raise Invalid(f"未知的操作 / unknown action: {action}")
    if action in ("assign", "verify", "reopen"):
        await require_site(actor, rect.site, SUPERVISOR_ROLES)
    elif action in ("start", "fix") and rect.assignee is not None and rect.assignee != actor.id:
        # Someone else holds the work: only supervisors may step in (e.g. at reception).
        await require_site(actor, rect.site, SUPERVISOR_ROLES)
    else:
        await require_site(actor, rect.site, MEMBER_ROLES)
    if action == "fix" and not photos:
        raise Invalid("完成整改需要至少一张照片 / a fix needs at least one photo", code="photo_required")
    if action == "assign" and (assignee_id is None or not await is_active_field_member(assignee_id, rect.site)):
        raise Invalid("只能指派给本小区在职的一线员工 / assign to active field staff of this site",
                      code="bad_assignee")


async def transition(
    rect_id: Any, actor: Staff, action: str, *, assignee_id: Any = None, note: str = "",
    photos: Iterable[str] = (), at: datetime | None = None, device_at: datetime | None = None,
    op_id: Any = None, source: str = "phone", skew_flag: bool = False,
) -> TransitionOutcome:
    """One step of the state machine, applied or recorded as a conflict, in receipt order.

    Judged in the contract's order: not_found (NotFound), forbidden (Forbidden),
    photo_required / bad_assignee (Invalid with that code), then conflict (kept in
    the history, returned with status "conflict" and the current state), else applied.
    `at` is the corrected time of the action (default: now).
    """
    at = at or now()
    shas = list(dict.fromkeys(photos))
    outer = engine().transaction_exists()
    async with write_transaction():
        seq = await next_position()  # taken first: it also orders concurrent writers on PostgreSQL
        rect = await _locked(Rectification.objects().where(Rectification.id == rect_id)).first()
        if rect is None:
            raise NotFound("没有这条整改 / no such rectification")
        await _judge(rect, actor, action, assignee_id, shas)
        before = rect.state
        after = next_state(before, action)
        position = await RectTransition.count().where(RectTransition.rectification == rect.id) + 1
        transition_id = uuid.uuid4()
        status = "applied" if after is not None else "conflict"
        values: dict[Any, Any] = {Rectification.seq: seq, Rectification.updated_at: now()}
        pending: list[Event] = []
        missing: list[str] = []
        new_assignee = rect.assignee
        if status == "applied":
            if action == "assign":
                new_assignee = assignee_id
                pending.append(lambda: events.rectification_assigned(rect))
            elif action in ("start", "fix") and rect.assignee is None:
                new_assignee = actor.id  # whoever takes unassigned work becomes its assignee
            if action == "start" and rect.started_at is None:
                values[Rectification.started_at] = at  # arrival on site stops the emergency clock
            if action == "fix":
                values[Rectification.fixed_at] = at
                values[Rectification.photos_after] = list(dict.fromkeys([*loaded(rect.photos_after), *shas]))
                missing = await link_photos(rect.site, "rect_after", rect.id, shas)
                if missing:
                    values[Rectification.photos_missing] = rect.photos_missing + len(missing)
            elif shas:
                missing = await link_photos(rect.site, "transition", transition_id, shas)
            if action == "verify":
                values[Rectification.verified_at] = at
            if action == "reopen":
                values[Rectification.fixed_at] = None
                pending.append(lambda: events.rectification_reopened(rect))
            values[Rectification.state] = after
            values[Rectification.assignee] = new_assignee
        elif shas:
            # A conflicting step keeps its evidence in the history too.
            missing = await link_photos(rect.site, "transition", transition_id, shas)
        await Rectification.update(values).where(Rectification.id == rect.id)
        await RectTransition.insert(RectTransition(
            id=transition_id, rectification=rect.id, action=action, outcome=status, from_state=before,
            to_state=after if after is not None else before, actor=actor.id,
            assignee=assignee_id if action == "assign" else new_assignee, note=note, photos=shas, at=at,
            device_at=device_at, op_id=op_id, source=source, position=position, skew_flag=skew_flag,
        ))
        for column, value in values.items():
            setattr(rect, column._meta.name, value)
    if not outer:
        await run_events(pending)
        pending = []
    return TransitionOutcome(status=status, state=rect.state, rectification=rect, transition_id=transition_id,
                             missing_photos=missing, events=pending)


async def history(rect_id: Any) -> list[RectTransition]:
    """Every step of a rectification, conflicts included, in receipt order."""
    return await RectTransition.objects().where(RectTransition.rectification == rect_id).order_by(
        RectTransition.position)
