"""Writing a judged stretch of a push: one bulk insert per table, in foreign-key order.

Rounds, visits, check answers, findings, rectifications, photo references and
the stored ops go in with one statement each (server/bulk.py); finished
rounds are closed with one UPDATE statement and their patrol slots settled
together (server/rounds/settle.py). A record whose photos are uploaded already
gets the reuse check the per-op path gives it, in op order, with the references
that existed at that point, so the flags come out the same.
"""

from __future__ import annotations

from typing import Any

from server.bulk import SQLiteText, executemany, insert_rows
from server.photos.reuse import flag_reuse
from server.photos.tables import PhotoRef
from server.rectifications.tables import Finding, Rectification
from server.rounds.settle import Finished, settle_rounds
from server.rounds.tables import CheckAnswer, Round, Visit
from sync.judge import Pending
from sync.snapshot import Snapshot
from sync.tables import SyncOp

_ROUND = Round._meta.tablename


def _finish_sql(flagged: bool) -> str:
    # A flagged clock marks the round; an unflagged one leaves an earlier flag (from its start) alone.
    flag = ', "skew_flag" = ?' if flagged else ""
    return (f'UPDATE "{_ROUND}" SET "state" = \'finished\', "finished_at" = ?, "finished_device_at" = ?{flag}, '
            '"slot" = COALESCE(?, "slot") WHERE "id" = ?')


async def _close_rounds(pending: Pending, snap: Snapshot, text: SQLiteText) -> None:
    """Insert the new rounds and close the finished ones, with their slots settled (new rounds: in their row)."""
    slots = await settle_rounds([Finished(round_id=f.round_id, template_id=f.template, staff_id=snap.user.id,
                                          finished_at=f.finished_at) for f in pending.finishes],
                                {t.id: t for t in snap.templates.values() if t is not None}, snap.sites)
    flagged = snap.clock.flagged
    updates = []
    for finish in pending.finishes:
        row = pending.rounds.get(finish.round_id)
        if row is not None:
            row.update(state="finished", finished_at=finish.finished_at, finished_device_at=finish.device_at,
                       slot=slots.get(finish.round_id))
            continue
        values: list[Any] = [finish.finished_at, finish.device_at]
        if flagged:
            values.append(True)
        updates.append((*values, slots.get(finish.round_id), finish.round_id))
    await insert_rows(Round, pending.rounds.values(), text)
    await executemany(_finish_sql(flagged), updates)


async def _link_photos(pending: Pending, snap: Snapshot, text: SQLiteText) -> None:
    """Photo references in op order; the records with uploaded photos get their reuse check as they come."""
    checked = set(pending.reuse)
    stretch: list[dict[str, Any]] = []
    position = 0
    refs = pending.photo_refs
    while position < len(refs):
        key = (refs[position]["record_type"], refs[position]["record_id"])
        end = position
        while end < len(refs) and (refs[end]["record_type"], refs[end]["record_id"]) == key:
            end += 1
        if key not in checked:
            stretch += refs[position:end]
        else:
            await insert_rows(PhotoRef, stretch, text)
            stretch = []
            await insert_rows(PhotoRef, refs[position:end], text)
            present = [r["sha256"] for r in refs[position:end] if r["sha256"] in snap.photos]
            await flag_reuse(await PhotoRef.select().where(
                (PhotoRef.record_type == key[0]) & (PhotoRef.record_id == key[1]) & PhotoRef.sha256.is_in(present)))
        position = end
    await insert_rows(PhotoRef, stretch, text)


async def flush(pending: Pending, snap: Snapshot) -> None:
    """Write everything pending, parents before children (call inside the push's transaction)."""
    text = SQLiteText()  # the rows name the same rounds, visits and clock again and again
    await _close_rounds(pending, snap, text)
    await insert_rows(Visit, pending.visits, text)
    await insert_rows(CheckAnswer, pending.answers, text)
    await insert_rows(Finding, pending.findings, text)
    await insert_rows(Rectification, pending.rects, text)
    await _link_photos(pending, snap, text)
    await insert_rows(SyncOp, pending.sync_ops, text)
