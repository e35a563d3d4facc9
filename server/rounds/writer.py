"""The one writer of the inspection log: rounds, visits, check answers and their patrol slots, in bulk.

What server/rounds/decide.py decided (a push's stretch of ops, or one op) is
written with one statement per table (server/bulk.py); finished rounds are
closed with one UPDATE statement and their slots settled together
(server/rounds/settle.py). Call inside the write transaction.
"""

from __future__ import annotations

from typing import Any

from server.bulk import SQLiteText, executemany, insert_rows
from server.photos.services import count_missing
from server.rounds.decide import RoundRows
from server.rounds.settle import Finished, settle_rounds
from server.rounds.tables import CheckAnswer, Round, Visit

_ROUND = Round._meta.tablename


def _finish_sql(flagged: bool) -> str:
    # A flagged clock marks the round; an unflagged one leaves an earlier flag (from its start) alone.
    flag = ', "skew_flag" = ?' if flagged else ""
    return (f'UPDATE "{_ROUND}" SET "state" = \'finished\', "finished_at" = ?, "finished_device_at" = ?{flag}, '
            '"slot" = COALESCE(?, "slot") WHERE "id" = ?')


async def write_rounds(rows: RoundRows, templates: dict[Any, Any] | None = None, sites: dict[Any, Any] | None = None,
                       text: SQLiteText | None = None) -> dict[Any, Any]:
    """Insert the new rounds, visits and answers, close the finished rounds and settle their slots.

    `templates` and `sites` may hold rows the caller has read already. Returns round id -> settled slot id.
    """
    text = text or SQLiteText()
    slots = await settle_rounds([Finished(round_id=f.round_id, template_id=f.template, staff_id=f.staff,
                                          finished_at=f.finished_at, visited=f.visited) for f in rows.finishes],
                                templates, sites)
    updates: dict[bool, list[tuple[Any, ...]]] = {True: [], False: []}
    for finish in rows.finishes:
        row = rows.rounds.get(finish.round_id)
        if row is not None:  # started in the same batch: closed in its own row
            row.update(state="finished", finished_at=finish.finished_at, finished_device_at=finish.device_at,
                       slot=slots.get(finish.round_id))
            if finish.flagged:
                row["skew_flag"] = True
            continue
        values: list[Any] = [finish.finished_at, finish.device_at]
        if finish.flagged:
            values.append(True)
        updates[finish.flagged].append((*values, slots.get(finish.round_id), finish.round_id))
    await insert_rows(Round, rows.rounds.values(), text)
    for flagged, values in updates.items():
        await executemany(_finish_sql(flagged), values)
    await insert_rows(Visit, rows.visits, text)
    await insert_rows(CheckAnswer, rows.answers, text)
    return slots


async def photo_arrived(event: Any) -> None:
    """A photo arrived (server.events.PhotoArrived): the visits naming it count their missing photos again."""
    for visit_id in dict.fromkeys(r["record_id"] for r in event.refs if r["record_type"] == "visit"):
        missing = await count_missing(("visit",), visit_id)
        await Visit.update({Visit.photos_missing: missing}).where(
            (Visit.id == visit_id) & (Visit.photos_missing != missing))
