"""POST /sync/push: one write transaction per batch; record ops judged in memory and written in bulk.

Why one transaction: a 500-op push then costs one commit (one fsync on SQLite),
not 500. Why the change counter is taken first: every writer of pulled rows
takes it, so on PostgreSQL concurrent pushes queue on it (no deadlocks on each
other's op ids, the pull cursor stays in commit order), and what this push reads
next cannot change under it until it commits.

Before the lock, the ops are read (sync/shapes.py in compiled code, else
sync/ops.py's parse_op). Then the batch's stored op ids and everything its ops
reference are read once (sync/snapshot.py), and each op is judged in order, in memory, in the contract's
judging order, by its domain (sync/record.py: server/rounds/decide.py,
server/rectifications/decide.py); the rows of a stretch of judged ops are
written by the domains' writers with one statement per table. push.subscribe
goes through its service in a savepoint (sync/perop.py) after the stretch
before it is written, so it sees it. If
judging or writing a stretch fails unexpectedly, the stretch is rolled back and
the rest of the batch is applied op by op: one bad op never fails its neighbours.

Idempotency is the SyncOp primary key (op_id): a resend, even one racing the
first send on another connection, is answered `duplicate`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import msgspec

from server.bulk import execute, select_in
from server.changes import next_position
from server.db import write_transaction
from server.ids import parse_uuid, uuid7
from server import events as domain_events
from server.notify import dispatch
from server.settings import get_settings
from server.staff.auth import DeviceAuth
from server.staff.tables import DeviceToken
from sync import perop, record, snapshot
from sync.announce import announce_findings
from sync.perop import PushContext
from sync.record import DECIDE, Pending
from sync.ops import Clock, Envelope, Op, Rejection, parse_op
from sync.shapes import read_op
from sync.tables import SyncOp

log = logging.getLogger("xunjian.sync")


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Received:
    """One op as it arrived: parsed (op) or not (error), and the op_id it may be filed under."""

    source: Any  # the op as JSON text (msgspec.Raw, from sync/shapes.py) or as decoded JSON
    op: Op | None
    error: Rejection | None
    op_id: uuid.UUID | None

    @cached_property
    def raw(self) -> Any:
        """The op as decoded JSON (what the per-op path and the quarantine take)."""
        return json.loads(bytes(self.source)) if isinstance(self.source, msgspec.Raw) else self.source


def _receive(source: Any) -> Received:
    item = Received(source, None, None, None)
    try:
        # The compiled reading first; parse_op reads the rest and says why an op is bad.
        op = (read_op(source) if isinstance(source, msgspec.Raw) else None) or parse_op(item.raw)
    except Exception as exc:  # noqa: BLE001 - a bug in the shape step must not fail the op's neighbours
        if not isinstance(exc, Rejection):
            log.exception("reading an op failed")
            exc = Rejection("internal", perop.INTERNAL_REASON)
        raw = item.raw
        item.error, item.op_id = exc, parse_uuid(raw.get("op_id") if isinstance(raw, dict) else None)
        return item
    item.op, item.op_id = op, op.op_id
    return item


class StretchFailed(Exception):
    """Judging or writing a stretch of ops failed unexpectedly: apply it op by op instead."""


@dataclass
class Batch:
    """One push in progress: answers in op order, what is judged but not written, hooks for after the commit."""

    tx: Any
    ctx: PushContext
    snap: snapshot.Snapshot
    device_id: str
    seen: dict[uuid.UUID, dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # domain events, published after the commit
    pending: Pending = field(default_factory=Pending)
    announce: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    stretch_start: int = 0  # index of the first op whose rows are pending
    stretch_seen: list[uuid.UUID] = field(default_factory=list)

    def _record(self, op_id: uuid.UUID | None, raw: Any, op: Op | None, status: str, reply: dict[str, Any],
                code: str = "", reason: str = "", state: str = "", filed_as: uuid.UUID | None = None) -> None:
        self.pending.sync_ops.append(perop.sync_op_row(self.ctx, self.device_id, filed_as or op_id, raw, op,
                                                       status, code, reason, state))
        if filed_as is None and op_id is not None:
            self.seen[op_id] = perop.seen_row(op_id, self.ctx.user.id, reply, op)
            self.stretch_seen.append(op_id)
        self.results.append(reply)

    def _quarantine(self, item: Received, rejection: Rejection) -> None:
        original = item.raw.get("op_id") if isinstance(item.raw, dict) else None
        reply = perop.answer(original if isinstance(original, str) else None, "rejected", code=rejection.code,
                             reason=rejection.reason)
        self._record(None, item.raw, None, "rejected", reply, rejection.code, rejection.reason, filed_as=uuid7())

    def _duplicate(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a resend from what the batch knows; None when only the database knows."""
        if row["status"] == "conflict":
            rnd = self.snap.rounds.get(parse_uuid((row["data"] or {}).get("round_id")))
            if row["type"] not in ("visit.record", "round.finish") or rnd is None:
                return None
            return perop.duplicate_answer(row, state=rnd.state)
        if row["status"] == "applied":
            shas = perop.photos_of(row)
            if not self.snap.photos_asked.issuperset(shas):
                return None
            return perop.duplicate_answer(row, missing=[s for s in dict.fromkeys(shas) if s not in self.snap.photos])
        return perop.duplicate_answer(row)

    def judge(self, item: Received) -> bool:
        """Answer an op in memory; False when it needs the per-op path."""
        known = self.seen.get(item.op_id) if item.op_id is not None else None
        if item.op_id is None:
            assert item.error is not None
            self._quarantine(item, item.error)
        elif known is not None and known["staff"] != self.ctx.user.id:
            self._quarantine(item, Rejection("id_reused", perop.REUSED_OP_REASON))
        elif known is not None:
            reply = self._duplicate(known)
            if reply is None:
                return False
            self.results.append(reply)
        elif item.error is not None:
            self._record(item.op_id, item.raw, None, "rejected",
                         perop.answer(item.op_id, "rejected", code=item.error.code, reason=item.error.reason),
                         item.error.code, item.error.reason)
        elif item.op is not None and item.op.type in DECIDE:
            self._judge_record(item.op)
        else:
            return False
        return True

    def _judge_record(self, op: Op) -> None:
        try:
            result = record.decide(self.snap, self.pending, op)
        except Rejection as rejection:
            reply = perop.answer(op.op_id, "rejected", code=rejection.code, reason=rejection.reason)
            self._record(op.op_id, None, op, "rejected", reply, rejection.code, rejection.reason)
            return
        if result.status == "conflict":
            reply = perop.answer(op.op_id, "conflict", code="stale", reason=perop.STALE_REASON, state=result.state)
            self._record(op.op_id, None, op, "conflict", reply, "stale", perop.STALE_REASON, result.state)
        else:
            reply = perop.answer(op.op_id, result.status, missing_photos=result.missing_photos)
            self._record(op.op_id, None, op, result.status, reply, state=result.state)

    async def write(self, next_index: int) -> None:
        """Write the pending stretch in its own savepoint; raises StretchFailed (rolled back) on any error."""
        if not self.pending:
            self.stretch_start, self.stretch_seen = next_index, []
            return
        savepoint = await self.tx.savepoint()
        try:
            await record.write(self.pending, self.snap)
        except Exception as exc:
            log.exception("writing ops %d-%d in bulk failed; applying them one by one", self.stretch_start,
                          next_index - 1)
            await savepoint.rollback_to()
            raise StretchFailed() from exc
        await savepoint.release()
        self.announce += self.pending.rects.reported
        self.events += self.pending.rects.events
        self.pending = Pending()
        self.stretch_start, self.stretch_seen = next_index, []

    async def one_by_one(self, items: list[Received]) -> None:
        """Forget the unwritten stretch and apply it, and every op after it, through the per-op path."""
        del self.results[self.stretch_start:]
        for op_id in self.stretch_seen:
            self.seen.pop(op_id, None)
        self.pending = Pending()
        for item in items:
            self.results.append(await perop.one(self.tx, self.ctx, self.device_id, item.raw, self.seen, self.events,
                                                self.announce))

    async def run(self, items: list[Received]) -> None:
        for index, item in enumerate(items):
            try:
                if self.judge(item):
                    continue
            except Exception:  # noqa: BLE001 - a bug in the batch path must not fail the push
                log.exception("judging op %d in memory failed; applying the rest one by one", index)
                return await self.one_by_one(items[self.stretch_start:])
            try:
                await self.write(index)
            except StretchFailed:
                return await self.one_by_one(items[self.stretch_start:])
            # What is left for the per-op path sees everything before it written.
            self.results.append(await perop.one(self.tx, self.ctx, self.device_id, item.raw, self.seen, self.events,
                                                self.announce))
            self.stretch_start = index + 1
        try:
            await self.write(len(items))
        except StretchFailed:
            await self.one_by_one(items[self.stretch_start:])


async def run_events(pending: list[Any]) -> None:
    """Publish the push's domain events once it has committed (a failing handler never fails the push)."""
    await domain_events.publish(*pending)


async def _stored(op_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The batch's ops that were stored before (resends), by op_id."""
    rows = await select_in(SyncOp, ("op_id", "staff", "status", "code", "reason", "state", "type", "data"), "op_id",
                           op_ids)
    for row in rows:
        row["data"] = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"] or {}
    return {row["op_id"]: row for row in rows}


async def push(auth: DeviceAuth, envelope: Envelope, received_at: datetime | None = None) -> dict[str, Any]:
    """Apply a parsed push envelope; answers per op in the order of `ops`.

    The token's `last_used_at` is set here with its `last_sync_at` (the endpoint reads the
    token with `device_user(token, touch=False)`), after the change counter.
    """
    user = auth.staff
    clock = Clock(received_at=received_at or now(), device_time=envelope.device_time,
                  flag_minutes=get_settings().skew_flag_minutes)
    items = [_receive(raw) for raw in envelope.ops]  # outside the write lock: no database needed
    async with write_transaction() as tx:
        seq = await next_position()
        seen = await _stored([i.op_id for i in items if i.op_id is not None])
        ops = [i.op for i in items if i.op is not None]
        resent = [row for row in seen.values() if row["status"] == "applied"]
        snap = await snapshot.load(user, clock, seq, ops, [s for r in resent for s in perop.photos_of(r)])
        batch = Batch(tx=tx, ctx=PushContext(user=user, site_ids=snap.site_ids, clock=clock, seq=seq), snap=snap,
                      device_id=envelope.device_id or auth.token.device_id, seen=seen)
        await batch.run(items)
        announced = await announce_findings(tx, batch.announce, batch.events, snap.sites)
        await execute(f'UPDATE "{DeviceToken._meta.tablename}" SET "last_sync_at" = ?, "last_used_at" = ? '
                      'WHERE "id" = ?', clock.received_at, clock.received_at, auth.token.id)
    if announced:
        dispatch.wake()  # the sender may have looked before this commit
    await run_events(batch.events)
    return {"server_time": now().isoformat(), "results": batch.results}
