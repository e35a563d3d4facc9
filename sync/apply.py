"""Judging and applying one op (after its shape): not_found -> id_reused -> forbidden ->
photo_required / bad_assignee -> conflict -> applied, as shared/SYNC.md orders them.

Each `apply_*` runs inside the push's transaction and savepoint: it raises
`Rejection` (the savepoint is rolled back) or returns an `OpResult`.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from server.errors import AppError, Invalid
from server.ids import parse_uuid
from server.notify import subscriptions
from server.rectifications import services as rectifications
from server.rectifications.tables import Finding, Rectification
from server.rounds import services as rounds
from server.rounds.tables import Round, RoundTemplate, TemplateItem, Visit
from server.secrets_box import normalise_code, sha256_hex
from server.sites.tables import Checkpoint, Zone
from server.staff.tables import SUPERVISOR_ROLES, Staff
from sync.ops import Clock, Op, Rejection


@dataclass
class OpResult:
    status: str  # applied | conflict
    state: str = ""
    missing_photos: list[str] = field(default_factory=list)
    events: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass
class PushContext:
    """Who pushes, from which of their sites, on which clock; small caches live for one batch."""

    user: Staff
    site_ids: set[uuid.UUID]
    clock: Clock
    templates: dict[uuid.UUID, RoundTemplate | None] = field(default_factory=dict)
    template_checks: dict[uuid.UUID, dict[uuid.UUID, dict[str, str]]] = field(default_factory=dict)
    checkpoints: dict[uuid.UUID, Checkpoint | None] = field(default_factory=dict)
    rounds: dict[uuid.UUID, Round | None] = field(default_factory=dict)
    # Ids that ops of this batch would create and that exist already (looked up once per batch).
    taken: set[uuid.UUID] = field(default_factory=set)
    # Cache updates of the op being applied: kept when its savepoint is released, dropped on rollback.
    pending: list[Callable[[], None]] = field(default_factory=list)

    @property
    def is_supervisor(self) -> bool:
        return self.user.role in SUPERVISOR_ROLES

    def keep(self) -> None:
        for update in self.pending:
            update()
        self.pending.clear()

    def drop(self) -> None:
        self.pending.clear()


CREATES = {"round.start": ("round_id", Round), "visit.record": ("visit_id", Visit),
           "finding.report": ("finding_id", Finding)}


async def prefetch_taken(ctx: PushContext, ops: list[Any]) -> None:
    """One look-up per table for every id the batch's ops would create (id_reused), instead of one per op."""
    wanted: dict[Any, list[uuid.UUID]] = {}
    for raw in ops:
        if isinstance(raw, dict) and raw.get("type") in CREATES and isinstance(raw.get("data"), dict):
            name, table = CREATES[raw["type"]]
            ident = parse_uuid(raw["data"].get(name))
            if ident is not None:
                wanted.setdefault(table, []).append(ident)
    if Finding in wanted:
        wanted[Rectification] = wanted[Finding]  # a finding's rectification has its id
    for table, ids in wanted.items():
        for chunk in range(0, len(ids), 400):
            rows = await table.select(table._meta.primary_key).where(
                table._meta.primary_key.is_in(ids[chunk:chunk + 400]))
            ctx.taken.update(r[table._meta.primary_key._meta.name] for r in rows)


def _claim(ctx: PushContext, ident: uuid.UUID, name: str) -> None:
    if ident in ctx.taken:
        raise id_reused(name)
    ctx.pending.append(lambda: ctx.taken.add(ident))


def not_found(what: str) -> Rejection:
    return Rejection("not_found", f"找不到{what[0]} / no such {what[1]} in your sites")


def id_reused(name: str) -> Rejection:
    return Rejection("id_reused", f"{name} 已被另一条操作使用 / {name} already exists under another op_id")


def forbidden(reason: str) -> Rejection:
    return Rejection("forbidden", reason)


async def _template(ctx: PushContext, template_id: uuid.UUID) -> RoundTemplate | None:
    if template_id not in ctx.templates:
        row = await RoundTemplate.objects().where(RoundTemplate.id == template_id).first()
        ctx.templates[template_id] = row if row is not None and row.site in ctx.site_ids else None
    return ctx.templates[template_id]


async def _checks(ctx: PushContext, template_id: uuid.UUID) -> dict[uuid.UUID, dict[str, str]]:
    """checkpoint id -> {check id: zh label} of a template's items."""
    if template_id not in ctx.template_checks:
        items = await TemplateItem.select(TemplateItem.checkpoint, TemplateItem.checks).where(
            TemplateItem.template == template_id).output(load_json=True)
        ctx.template_checks[template_id] = {
            item["checkpoint"]: {c["id"]: c.get("label_zh", "") for c in item["checks"] or []} for item in items}
    return ctx.template_checks[template_id]


async def _checkpoint(ctx: PushContext, checkpoint_id: uuid.UUID) -> Checkpoint | None:
    if checkpoint_id not in ctx.checkpoints:
        row = await Checkpoint.objects().where(Checkpoint.id == checkpoint_id).first()
        ctx.checkpoints[checkpoint_id] = row if row is not None and row.site in ctx.site_ids else None
    return ctx.checkpoints[checkpoint_id]


async def _round(ctx: PushContext, round_id: uuid.UUID) -> Round:
    if round_id not in ctx.rounds:
        rnd = await Round.objects().where(Round.id == round_id).first()
        ctx.rounds[round_id] = rnd if rnd is not None and rnd.site in ctx.site_ids else None
    rnd = ctx.rounds[round_id]
    if rnd is None:
        raise not_found(("这个巡查", "round"))
    return rnd


async def apply_round_start(ctx: PushContext, op: Op) -> OpResult:
    data = op.data
    template = await _template(ctx, data["template_id"])
    if template is None:
        raise not_found(("这个巡查模板", "template"))
    _claim(ctx, data["round_id"], "round_id")
    if template.role != ctx.user.role and not ctx.is_supervisor:
        raise forbidden("这项巡查不属于您的岗位 / this round belongs to another role")
    rnd = await rounds.start_round(data["round_id"], template, ctx.user, ctx.clock.corrected(data["started_at"]),
                                   data["started_at"], ctx.clock.skew_seconds, ctx.clock.flagged)
    ctx.pending.append(lambda: ctx.rounds.__setitem__(rnd.id, rnd))
    return OpResult("applied", state="open")


def proof_verified(proof: str, secret: str | None, checkpoint: Checkpoint) -> bool:
    """Whether the secret the phone scanned or typed matches the poster (by SHA-256, constant time)."""
    if proof == "none" or not secret:
        return False
    if proof == "qr":
        return hmac.compare_digest(sha256_hex(secret.strip()), checkpoint.qr_hash)
    return hmac.compare_digest(sha256_hex(normalise_code(secret)), checkpoint.code_hash)


async def apply_visit_record(ctx: PushContext, op: Op) -> OpResult:
    data = op.data
    rnd = await _round(ctx, data["round_id"])
    checkpoint = await _checkpoint(ctx, data["checkpoint_id"])
    if checkpoint is None or checkpoint.site != rnd.site:
        raise not_found(("这个巡查点", "checkpoint"))
    checks = await _checks(ctx, rnd.template)
    # A checkpoint off the template may still be visited; its answers must name checks the template has.
    known = checks.get(checkpoint.id) or {k: v for item in checks.values() for k, v in item.items()}
    for answer in data["answers"]:
        if answer["check_id"] not in known:
            raise not_found((f"检查项 {answer['check_id'][:64]}", f"check {answer['check_id'][:64]}"))
        answer["label_zh"] = known[answer["check_id"]]
    _claim(ctx, data["visit_id"], "visit_id")
    if rnd.staff != ctx.user.id:
        raise forbidden("只有开始这次巡查的人可以记录 / only the person who started the round records on it")
    if rnd.state == "finished":
        return OpResult("conflict", state="finished")
    _, missing = await rounds.record_visit(
        data["visit_id"], rnd, checkpoint, ctx.user, proof=data["proof"],
        proof_verified=proof_verified(data["proof"], data.get("secret"), checkpoint),
        scanned_at=ctx.clock.corrected(data["scanned_at"]), device_at=data["scanned_at"], answers=data["answers"],
        photos=data["photos"], lat=data.get("lat"), lng=data.get("lng"), accuracy_m=data.get("accuracy_m"),
        skew_flag=ctx.clock.flagged,
    )
    return OpResult("applied", state="open", missing_photos=missing)


async def apply_round_finish(ctx: PushContext, op: Op) -> OpResult:
    rnd = await _round(ctx, op.data["round_id"])
    if rnd.staff != ctx.user.id:
        raise forbidden("只有开始这次巡查的人可以结束 / only the person who started the round finishes it")
    if rnd.state == "finished":
        return OpResult("conflict", state="finished")
    finished = op.data["finished_at"]
    # finish_round marks the cached round finished itself; on rollback the cache entry is dropped.
    ctx.rounds.pop(rnd.id, None)
    await rounds.finish_round(rnd, ctx.clock.corrected(finished), finished, ctx.clock.flagged)
    ctx.pending.append(lambda: ctx.rounds.__setitem__(rnd.id, rnd))
    return OpResult("applied", state="finished")


async def apply_finding_report(ctx: PushContext, op: Op) -> OpResult:
    data = op.data
    site_id = data["site_id"]
    if site_id not in ctx.site_ids:
        raise not_found(("这个小区", "site"))
    if "checkpoint_id" in data:
        checkpoint = await _checkpoint(ctx, data["checkpoint_id"])
        if checkpoint is None or checkpoint.site != site_id:
            raise not_found(("这个巡查点", "checkpoint"))
    if "zone_id" in data and not await Zone.exists().where((Zone.id == data["zone_id"]) & (Zone.site == site_id)):
        raise not_found(("这个区域", "zone"))
    round_id = None
    if "visit_id" in data:
        visit = await Visit.select(Visit.round).where((Visit.id == data["visit_id"]) & (Visit.site == site_id)).first()
        if visit is None:
            raise not_found(("这次到点记录", "visit"))
        round_id = visit["round"]
    finding_id = data["finding_id"]
    _claim(ctx, finding_id, "finding_id")
    outcome = await rectifications.report_finding(
        ctx.user, finding_id, site_id, data["category"], data["severity"],
        checkpoint_id=data.get("checkpoint_id"), zone_id=data.get("zone_id"), visit_id=data.get("visit_id"),
        note=data["note"], photos=data["photos"], lat=data.get("lat"), lng=data.get("lng"),
        at=ctx.clock.corrected(op.at), device_at=op.at, skew_flag=ctx.clock.flagged, round_id=round_id,
    )
    return OpResult("applied", state=outcome.rectification.state, missing_photos=outcome.missing_photos,
                    events=outcome.events)


async def apply_rect_transition(ctx: PushContext, op: Op) -> OpResult:
    data = op.data
    outcome = await rectifications.transition(
        data["rect_id"], ctx.user, data["action"], assignee_id=data.get("assignee_id"), note=data["note"],
        photos=data["photos"], at=ctx.clock.corrected(op.at), device_at=op.at, op_id=op.op_id, source="phone",
        skew_flag=ctx.clock.flagged,
    )
    return OpResult(outcome.status, state=outcome.state, missing_photos=outcome.missing_photos,
                    events=outcome.events)


async def apply_push_subscribe(ctx: PushContext, op: Op) -> OpResult:
    keys = op.data["keys"]
    try:
        await subscriptions.subscribe(ctx.user.id, op.data["endpoint"], keys["p256dh"], keys["auth"])
    except Invalid as exc:
        raise Rejection("invalid", exc.reason) from exc  # the contract's code for malformed data
    return OpResult("applied")


APPLY = {
    "round.start": apply_round_start,
    "visit.record": apply_visit_record,
    "round.finish": apply_round_finish,
    "finding.report": apply_finding_report,
    "rect.transition": apply_rect_transition,
    "push.subscribe": apply_push_subscribe,
}


async def apply_op(ctx: PushContext, op: Op) -> OpResult:
    """Judge and apply one op whose shape is valid; service errors become rejections with their code."""
    try:
        return await APPLY[op.type](ctx, op)
    except AppError as exc:
        raise Rejection(exc.code, exc.reason) from exc


async def current_state(op_type: str, data: dict[str, Any]) -> str:
    """The state a conflicting op ran into, as it is now (for answers to a resent op)."""
    if op_type == "rect.transition":
        row = await Rectification.select(Rectification.state).where(Rectification.id == data.get("rect_id")).first()
        return row["state"] if row else ""
    if op_type in ("visit.record", "round.finish"):
        row = await Round.select(Round.state).where(Round.id == data.get("round_id")).first()
        return row["state"] if row else ""
    return ""
