"""The one sequence of changes behind the pull cursor.

Every write transaction that changes something a phone pulls takes the next
position by incrementing a single counter row. The row lock is held until the
transaction commits, so positions are handed out in commit order and a pull
that reads the counter first never skips a change committed after it.
"""

from __future__ import annotations

from server.sites.tables import ChangeCounter, Deletion


async def ensure_counter() -> None:
    if not await ChangeCounter.exists().where(ChangeCounter.id == 1):
        await ChangeCounter.insert(ChangeCounter(id=1, value=0))


async def next_position() -> int:
    """Take the next position; call inside a write transaction, before the rows it stamps."""
    rows = await ChangeCounter.update(
        {ChangeCounter.value: ChangeCounter.value + 1}
    ).where(ChangeCounter.id == 1).returning(ChangeCounter.value)
    return int(rows[0]["value"])


async def committed_position() -> int:
    row = await ChangeCounter.select(ChangeCounter.value).where(ChangeCounter.id == 1).first()
    return int(row["value"]) if row else 0


async def record_deletion(record_type: str, record_id: str, site_id: object, seq: int) -> None:
    await Deletion.insert(Deletion(record_type=record_type, record_id=str(record_id), site=site_id, seq=seq))
