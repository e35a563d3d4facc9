"""POST /sync/push: one write transaction per batch, one SAVEPOINT per op, every op stored.

Why one transaction: a 500-op push then costs one commit (one fsync on SQLite),
not 500. Why a savepoint per op: one bad op rolls back only its own writes, so it
never fails its neighbours. Why the change counter is taken first: every writer
of pulled rows takes it, so on PostgreSQL concurrent pushes queue on it instead of
deadlocking on each other's op ids, and the pull cursor stays in commit order.

Idempotency is the SyncOp primary key (op_id): a resend, even one racing the
first send on another connection, hits the key and is answered `duplicate`.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from server.changes import next_position
from server.db import write_transaction
from server.ids import parse_uuid, uuid7
from server.photos.services import missing_of
from server.rectifications.services import run_events
from server.settings import get_settings
from server.staff.auth import DeviceAuth
from server.staff.services import site_ids_of
from server.staff.tables import DeviceToken
from sync.apply import OpResult, PushContext, apply_op, current_state, prefetch_taken
from sync.ops import Clock, Envelope, Op, Rejection, parse_op
from sync.tables import SyncOp

log = logging.getLogger("xunjian.sync")

try:  # asyncpg is only there for PostgreSQL deployments
    from asyncpg.exceptions import UniqueViolationError
except ImportError:  # pragma: no cover
    UniqueViolationError = sqlite3.IntegrityError  # type: ignore[misc,assignment]

UNIQUE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, UniqueViolationError)


STALE_REASON = "已被他人处理, 状态已改变 / the state moved on before this arrived; kept in the history"


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Batch:
    """What one push has done so far: answers in op order and hooks to run after the commit."""

    results: list[dict[str, Any]] = field(default_factory=list)
    events: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _answer(op_id: Any, status: str, **extra: Any) -> dict[str, Any]:
    answer = {"op_id": str(op_id) if op_id is not None else None, "status": status}
    answer.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return answer


async def _duplicate(row: dict[str, Any]) -> dict[str, Any]:
    """The answer to a resent op: its first outcome, so a phone that missed the reply still learns it."""
    extra: dict[str, Any] = {"original_status": row["status"]}
    if row["status"] == "rejected":
        extra.update(code=row["code"], reason=row["reason"])
    elif row["status"] == "conflict":
        extra["state"] = await current_state(row["type"], row["data"]) or row["state"]
    elif row["status"] == "applied":
        extra["missing_photos"] = await missing_of((row["data"] or {}).get("photos") or [])
    return _answer(row["op_id"], "duplicate", **extra)


def _stored_data(op: Op) -> dict[str, Any]:
    return op.raw.get("data") if isinstance(op.raw.get("data"), dict) else {}


async def _store(ctx: PushContext, device_id: str, op_id: uuid.UUID, raw: Any, op: Op | None, status: str,
                 code: str = "", reason: str = "", state: str = "") -> None:
    clock = ctx.clock
    at = op.at if op else None
    await SyncOp.insert(SyncOp(
        op_id=op_id, staff=ctx.user.id, device_id=device_id,
        type=(op.type if op else str(raw.get("type", "")) if isinstance(raw, dict) else "")[:32],
        data=_stored_data(op) if op else {"raw": raw}, at=at, device_time=clock.device_time,
        received_at=clock.received_at, corrected_at=clock.corrected(at) if at else None,
        skew_seconds=clock.skew_seconds, status=status, code=code, reason=reason[:2000], state=state,
    ))


async def _quarantine(ctx: PushContext, device_id: str, raw: Any, rejection: Rejection, op: Op | None) -> dict[str, Any]:
    """A rejected op the server cannot file under its own op_id (unreadable, or the id is another user's)."""
    original = raw.get("op_id") if isinstance(raw, dict) else None
    await _store(ctx, device_id, uuid7(), raw, None, "rejected", rejection.code, rejection.reason)
    return _answer(original if isinstance(original, str) else None, "rejected", code=rejection.code,
                   reason=rejection.reason)


async def _one(tx: Any, ctx: PushContext, device_id: str, raw: Any, seen: dict[uuid.UUID, dict[str, Any]],
               batch: Batch) -> dict[str, Any]:
    """Judge, apply and store one op inside its own savepoint."""
    try:
        op: Op | None = parse_op(raw)
        shape_error = None
    except Rejection as exc:
        op, shape_error = None, exc
    op_id = op.op_id if op else parse_uuid(raw.get("op_id") if isinstance(raw, dict) else None)
    if op_id is None:
        assert shape_error is not None
        return await _quarantine(ctx, device_id, raw, shape_error, None)
    known = seen.get(op_id)
    if known is not None:
        if known["staff"] != ctx.user.id:
            return await _quarantine(ctx, device_id, raw, Rejection(
                "id_reused", "op_id 已被其他用户使用 / this op_id was used by another user"), op)
        return await _duplicate(known)

    savepoint = await tx.savepoint()
    try:
        if shape_error is not None:
            raise shape_error
        assert op is not None
        result: OpResult = await apply_op(ctx, op)
        code, reason = ("stale", STALE_REASON) if result.status == "conflict" else ("", "")
        await _store(ctx, device_id, op_id, raw, op, result.status, code, reason, state=result.state)
    except Rejection as rejection:
        ctx.drop()
        await savepoint.rollback_to()
        await _store(ctx, device_id, op_id, raw, op, "rejected", rejection.code, rejection.reason)
        answer = _answer(op_id, "rejected", code=rejection.code, reason=rejection.reason)
    except UNIQUE_ERRORS:
        # Only reachable if another connection filed this op_id after our look-up.
        ctx.drop()
        await savepoint.rollback_to()
        row = await SyncOp.select().where(SyncOp.op_id == op_id).output(load_json=True).first()
        if row is None:
            raise
        seen[op_id] = row
        return await _duplicate(row)
    except Exception:  # noqa: BLE001 - a bug in one op must not fail its neighbours
        log.exception("op %s (%s) failed", op_id, op.type if op else "?")
        ctx.drop()
        await savepoint.rollback_to()
        reason = "服务器处理出错, 已隔离待查 / server error; kept in quarantine for an administrator"
        await _store(ctx, device_id, op_id, raw, op, "rejected", "internal", reason)
        answer = _answer(op_id, "rejected", code="internal", reason=reason)
    else:
        await savepoint.release()
        ctx.keep()
        batch.events.extend(result.events)
        answer = _answer(op_id, result.status, missing_photos=result.missing_photos)
        if result.status == "conflict":
            answer.update(code="stale", reason=STALE_REASON, state=result.state)
    seen[op_id] = {"op_id": op_id, "staff": ctx.user.id, "status": answer["status"], "code": answer.get("code", ""),
                   "reason": answer.get("reason", ""), "state": answer.get("state", ""),
                   "type": op.type if op else "", "data": _stored_data(op) if op else {}}
    return answer


async def push(auth: DeviceAuth, envelope: Envelope, received_at: datetime | None = None) -> dict[str, Any]:
    """Apply a parsed push envelope; answers per op in the order of `ops`."""
    user = auth.staff
    clock = Clock(received_at=received_at or now(), device_time=envelope.device_time,
                  flag_minutes=get_settings().skew_flag_minutes)
    device_id = envelope.device_id or auth.token.device_id
    batch = Batch()
    async with write_transaction() as tx:
        await next_position()
        ctx = PushContext(user=user, site_ids=set(await site_ids_of(user.id)), clock=clock)
        await prefetch_taken(ctx, envelope.ops)
        ids = [i for i in (parse_uuid(r.get("op_id")) if isinstance(r, dict) else None for r in envelope.ops) if i]
        seen: dict[uuid.UUID, dict[str, Any]] = {}
        if ids:
            for row in await SyncOp.select().where(SyncOp.op_id.is_in(list(dict.fromkeys(ids)))).output(
                    load_json=True):
                seen[row["op_id"]] = row
        for raw in envelope.ops:
            batch.results.append(await _one(tx, ctx, device_id, raw, seen, batch))
        await DeviceToken.update({DeviceToken.last_sync_at: clock.received_at}).where(DeviceToken.id == auth.token.id)
    await run_events(batch.events)
    return {"server_time": now().isoformat(), "results": batch.results}
