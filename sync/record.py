"""A push's record ops: which domain decides each, and writing what they decided.

`decide(snap, pending, op)` hands an op to its domain (server/rounds/decide.py,
server/rectifications/decide.py), which judges it on the batch's snapshot and
adds its rows to `Pending`; `write(pending, snap)` writes a stretch of them
through the domains' writers, parents before children, one statement per table.
The batch path (sync/push.py) and the per-op path (sync/perop.py, a batch of
one) both come through here, so an op gets the same answer and rows either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from server.bulk import SQLiteText, insert_rows
from server.decisions import Outcome
from server.errors import AppError
from server.photos.links import PhotoLinks, write_links
from server.rectifications.decide import RectRows, decide_finding, decide_transition
from server.rectifications.writer import write_rects
from server.rounds.decide import RoundRows, decide_finish, decide_round_start, decide_visit
from server.rounds.writer import write_rounds
from sync.ops import Op, Rejection
from sync.snapshot import Snapshot
from sync.tables import SyncOp


@dataclass
class Pending:
    """Rows of judged ops not written yet, in the order the ops came."""

    sync_ops: list[dict[str, Any]] = field(default_factory=list)
    rounds: RoundRows = field(default_factory=RoundRows)
    rects: RectRows = field(default_factory=RectRows)
    links: PhotoLinks = field(default_factory=PhotoLinks)

    def __bool__(self) -> bool:
        return bool(self.sync_ops or self.rounds or self.rects)


DECIDE: dict[str, Callable[[Snapshot, Pending, Op], Outcome]] = {
    "round.start": lambda snap, p, op: decide_round_start(snap, p.rounds, p.links, op.data),
    "visit.record": lambda snap, p, op: decide_visit(snap, p.rounds, p.links, op.data),
    "round.finish": lambda snap, p, op: decide_finish(snap, p.rounds, p.links, op.data),
    "finding.report": lambda snap, p, op: decide_finding(snap, p.rects, p.links, op.data, op.at),
    "rect.transition": lambda snap, p, op: decide_transition(snap, p.rects, p.links, op.data, op.at,
                                                             op_id=op.op_id, source="phone"),
}


def decide(snap: Snapshot, pending: Pending, op: Op) -> Outcome:
    """The op's domain decides it; a domain's refusal is a Rejection with its code."""
    try:
        return DECIDE[op.type](snap, pending, op)
    except AppError as exc:
        raise Rejection(exc.code, exc.reason) from exc


async def write(pending: Pending, snap: Snapshot) -> None:
    """Write everything pending, parents before children (inside the push's transaction)."""
    text = SQLiteText()  # the rows name the same rounds, visits and clock again and again
    templates = {t.id: t for t in snap.templates.values() if t is not None}
    await write_rounds(pending.rounds, templates, snap.sites, text)
    await write_rects(pending.rects, text)
    await write_links(pending.links, snap.photos, text)
    await insert_rows(SyncOp, pending.sync_ops, text)
