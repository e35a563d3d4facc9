"""The per-op path of a push: each op judged, applied and stored inside its own SAVEPOINT.

The batch path (sync/push.py) judges record ops in memory and writes them in
bulk; this path is what it uses for push.subscribe, and for the rest of a batch
whenever bulk is unsafe (an unexpected error while judging or writing): then
each op is applied alone, so one bad op still never fails its neighbours. A
record op here is a batch of one: its own snapshot, the same domain decision
and writers (sync/record.py), so answers and stored rows are the same on both paths.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from server.decisions import Outcome
from server.errors import Invalid
from server.ids import parse_uuid, uuid7
from server.notify import subscriptions
from server.photos.services import missing_of
from server.rectifications.tables import Rectification
from server.rounds.tables import Round
from server.staff.tables import Staff
from sync import record, snapshot
from sync.ops import Clock, Op, Rejection, parse_op
from sync.tables import SyncOp

log = logging.getLogger("xunjian.sync")

try:  # asyncpg is only there for PostgreSQL deployments
    from asyncpg.exceptions import UniqueViolationError
except ImportError:  # pragma: no cover
    UniqueViolationError = sqlite3.IntegrityError  # type: ignore[misc,assignment]

UNIQUE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, UniqueViolationError)

STALE_REASON = "已被他人处理, 状态已改变 / the state moved on before this arrived; kept in the history"
INTERNAL_REASON = "服务器处理出错, 已隔离待查 / server error; kept in quarantine for an administrator"
REUSED_OP_REASON = "op_id 已被其他用户使用 / this op_id was used by another user"



@dataclass
class PushContext:
    """Who pushes, from which of their sites, on which clock, at which change position."""

    user: Staff
    site_ids: set[Any]
    clock: Clock
    seq: int


@dataclass
class Applied:
    """One op applied alone: its outcome, the events to publish after the commit, the findings to announce."""

    outcome: Outcome
    events: list[Any] = field(default_factory=list)
    announce: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)


async def apply_op(ctx: PushContext, op: Op) -> Applied:
    """Judge and write one op whose shape is valid: a record op as a batch of one (sync/record.py)."""
    if op.type == "push.subscribe":
        keys = op.data["keys"]
        try:
            await subscriptions.subscribe(ctx.user.id, op.data["endpoint"], keys["p256dh"], keys["auth"])
        except Invalid as exc:
            raise Rejection("invalid", exc.reason) from exc  # the contract's code for malformed data
        return Applied(Outcome("applied"))
    snap = await snapshot.load(ctx.user, ctx.clock, ctx.seq, [op])
    pending = record.Pending()
    outcome = record.decide(snap, pending, op)
    await record.write(pending, snap)
    return Applied(outcome, pending.rects.events, pending.rects.reported)


async def current_state(op_type: str, data: dict[str, Any]) -> str:
    """The state a conflicting op ran into, as it is now (for answers to a resent op)."""
    if op_type == "rect.transition":
        row = await Rectification.select(Rectification.state).where(Rectification.id == data.get("rect_id")).first()
        return row["state"] if row else ""
    if op_type in ("visit.record", "round.finish"):
        row = await Round.select(Round.state).where(Round.id == data.get("round_id")).first()
        return row["state"] if row else ""
    return ""


def answer(op_id: Any, status: str, **extra: Any) -> dict[str, Any]:
    """One entry of the push's `results`."""
    reply = {"op_id": str(op_id) if op_id is not None else None, "status": status}
    for name, value in extra.items():
        if value is not None and value != "" and value != []:
            reply[name] = value
    return reply


def duplicate_answer(row: dict[str, Any], state: str = "", missing: list[str] | None = None) -> dict[str, Any]:
    """The answer to a resent op: its first outcome, so a phone that missed the reply still learns it."""
    extra: dict[str, Any] = {"original_status": row["status"]}
    if row["status"] == "rejected":
        extra.update(code=row["code"], reason=row["reason"])
    elif row["status"] == "conflict":
        extra["state"] = state or row["state"]
    elif row["status"] == "applied":
        extra["missing_photos"] = missing or []
    return answer(row["op_id"], "duplicate", **extra)


def photos_of(row: dict[str, Any]) -> list[str]:
    return (row["data"] or {}).get("photos") or []


async def duplicate(row: dict[str, Any]) -> dict[str, Any]:
    """`duplicate_answer` with the current state and missing photos read from the database."""
    if row["status"] == "conflict":
        return duplicate_answer(row, state=await current_state(row["type"], row["data"]))
    if row["status"] == "applied":
        return duplicate_answer(row, missing=await missing_of(photos_of(row)))
    return duplicate_answer(row)


def stored_data(op: Op) -> Any:
    """The op's data as stored: the JSON text the phone sent when the op was read from it, else the dict."""
    if op.data_json is not None:
        return op.data_json
    return op.raw.get("data") if op.raw is not None and isinstance(op.raw.get("data"), dict) else {}


def seen_row(op_id: uuid.UUID, staff_id: Any, reply: dict[str, Any], op: Op | None) -> dict[str, Any]:
    """What a later resend of this op in the same batch is answered from (the shape of a stored SyncOp)."""
    data = (op.data if op.data_json is not None else stored_data(op)) if op else {}
    return {"op_id": op_id, "staff": staff_id, "status": reply["status"], "code": reply.get("code", ""),
            "reason": reply.get("reason", ""), "state": reply.get("state", ""),
            "type": op.type if op else "", "data": data}


def sync_op_row(ctx: PushContext, device_id: str, op_id: uuid.UUID, raw: Any, op: Op | None, status: str,
                code: str = "", reason: str = "", state: str = "") -> dict[str, Any]:
    """The stored op, whatever its status (rejected ones are the quarantine)."""
    clock = ctx.clock
    at = op.at if op else None
    return {
        "op_id": op_id, "staff": ctx.user.id, "device_id": device_id,
        "type": (op.type if op else str(raw.get("type", "")) if isinstance(raw, dict) else "")[:32],
        "data": stored_data(op) if op else {"raw": raw}, "at": at, "device_time": clock.device_time,
        "received_at": clock.received_at, "corrected_at": clock.corrected(at) if at else None,
        "skew_seconds": clock.skew_seconds, "status": status, "code": code, "reason": reason[:2000], "state": state,
    }


async def _store(ctx: PushContext, device_id: str, op_id: uuid.UUID, raw: Any, op: Op | None, status: str,
                 code: str = "", reason: str = "", state: str = "") -> None:
    await SyncOp.insert(SyncOp(**sync_op_row(ctx, device_id, op_id, raw, op, status, code, reason, state)))


async def _quarantine(ctx: PushContext, device_id: str, raw: Any, rejection: Rejection) -> dict[str, Any]:
    """A rejected op the server cannot file under its own op_id (unreadable, or the id is another user's)."""
    original = raw.get("op_id") if isinstance(raw, dict) else None
    await _store(ctx, device_id, uuid7(), raw, None, "rejected", rejection.code, rejection.reason)
    return answer(original if isinstance(original, str) else None, "rejected", code=rejection.code,
                  reason=rejection.reason)


async def one(tx: Any, ctx: PushContext, device_id: str, raw: Any, seen: dict[uuid.UUID, dict[str, Any]],
              events: list[Any], announce: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Judge, apply and store one op inside its own savepoint; its events go to `events`, its findings to `announce`."""
    try:
        op: Op | None = parse_op(raw)
        shape_error = None
    except Rejection as exc:
        op, shape_error = None, exc
    op_id = op.op_id if op else parse_uuid(raw.get("op_id") if isinstance(raw, dict) else None)
    if op_id is None:
        assert shape_error is not None
        return await _quarantine(ctx, device_id, raw, shape_error)
    known = seen.get(op_id)
    if known is not None:
        if known["staff"] != ctx.user.id:
            return await _quarantine(ctx, device_id, raw, Rejection("id_reused", REUSED_OP_REASON))
        return await duplicate(known)

    savepoint = await tx.savepoint()
    try:
        if shape_error is not None:
            raise shape_error
        assert op is not None
        applied = await apply_op(ctx, op)
        result = applied.outcome
        code, reason = ("stale", STALE_REASON) if result.status == "conflict" else ("", "")
        await _store(ctx, device_id, op_id, raw, op, result.status, code, reason, state=result.state)
    except Rejection as rejection:
        await savepoint.rollback_to()
        await _store(ctx, device_id, op_id, raw, op, "rejected", rejection.code, rejection.reason)
        reply = answer(op_id, "rejected", code=rejection.code, reason=rejection.reason)
    except UNIQUE_ERRORS:
        # Only reachable if another connection filed this op_id after our look-up.
        await savepoint.rollback_to()
        row = await SyncOp.select().where(SyncOp.op_id == op_id).output(load_json=True).first()
        if row is None:
            raise
        seen[op_id] = row
        return await duplicate(row)
    except Exception:  # noqa: BLE001 - a bug in one op must not fail its neighbours
        log.exception("op %s (%s) failed", op_id, op.type if op else "?")
        await savepoint.rollback_to()
        await _store(ctx, device_id, op_id, raw, op, "rejected", "internal", INTERNAL_REASON)
        reply = answer(op_id, "rejected", code="internal", reason=INTERNAL_REASON)
    else:
        await savepoint.release()
        events.extend(applied.events)
        announce.extend(applied.announce)
        reply = answer(op_id, result.status, missing_photos=result.missing_photos)
        if result.status == "conflict":
            reply.update(code="stale", reason=STALE_REASON, state=result.state)
    seen[op_id] = seen_row(op_id, ctx.user.id, reply, op)
    return reply
