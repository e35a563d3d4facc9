"""The one writer of the rectification log: findings, rectifications and their history (RectTransition).

Whatever decided a step (server/rectifications/decide.py: the sync push, a
single op, the console, reception), its rows are written here: new findings and
rectifications with one statement per table, changed rectifications by id, the
history's steps with one statement. The scheduler's overdue flag and photos
arriving change rectifications here too. Call inside the write transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.bulk import SQLiteText, insert_rows
from server.photos.services import count_missing
from server.rectifications.decide import RectRows
from server.rectifications.tables import Finding, Rectification, RectTransition

# What a step may change on an existing rectification.
_MUTABLE = ("state", "assignee", "started_at", "fixed_at", "verified_at", "photos_after", "photos_missing", "due_at",
            "due_reason", "overdue_flagged", "followup_at", "followup_outcome", "seq", "updated_at")
_COLUMNS = {name: getattr(Rectification, name) for name in _MUTABLE}


async def write_rects(rows: RectRows, text: SQLiteText | None = None) -> None:
    """Insert the new findings and rectifications, update the changed ones, append the history's steps."""
    text = text or SQLiteText()
    await insert_rows(Finding, rows.findings, text)
    await insert_rows(Rectification, rows.new.values(), text)
    for rect in rows.changed.values():  # a few per push: steps on existing rectifications are rare
        await Rectification.update({column: rect[name] for name, column in _COLUMNS.items()}).where(
            Rectification.id == rect["id"])
    await insert_rows(RectTransition, rows.transitions, text)


async def flag_overdue(rect_id: Any, due_at: datetime) -> None:
    """The scheduler announced this deadline as passed (not in what phones pull: the row's seq stays)."""
    await Rectification.update({Rectification.overdue_flagged: True}).where(
        (Rectification.id == rect_id) & (Rectification.due_at == due_at))


async def mark_reviewed(finding_ids: list[Any], site_id: Any) -> list[Any]:
    """A supervisor has looked at these findings' evidence; returns the ids that were there."""
    rows = await Finding.update({Finding.reviewed: True}).where(
        Finding.id.is_in(finding_ids) & (Finding.site == site_id)).returning(Finding.id)
    return [r["id"] for r in rows]


async def photo_arrived(event: Any) -> None:
    """A photo arrived (server.events.PhotoArrived): the rectifications naming it count their missing photos
    again; one whose count changes gets the new `seq`, so phones pull it."""
    types = ("finding", "rect_after")
    for rect_id in dict.fromkeys(r["record_id"] for r in event.refs if r["record_type"] in types):
        missing = await count_missing(types, rect_id)
        await Rectification.update({Rectification.photos_missing: missing, Rectification.seq: event.seq}).where(
            (Rectification.id == rect_id) & (Rectification.photos_missing != missing))
