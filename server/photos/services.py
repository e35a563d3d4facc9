"""Which records reference which photos, and what changes when a photo arrives."""

from __future__ import annotations

from typing import Any, Iterable

from server.photos.tables import Photo, PhotoRef

# Record types a photo can belong to; a finding's photos and a fix's "after"
# photos both count against the rectification (whose id is the finding's id).
RECORD_TYPES = ("visit", "finding", "rect_after", "transition")


async def missing_of(shas: Iterable[str]) -> list[str]:
    """The photos among `shas` the server has not received yet (in the given order)."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return []
    rows = await Photo.select(Photo.sha256).where(Photo.sha256.is_in(wanted))
    have = {r["sha256"] for r in rows}
    return [s for s in wanted if s not in have]


async def link_photos(site_id: Any, record_type: str, record_id: Any, shas: Iterable[str],
                      round_id: Any = None) -> list[str]:
    """Record that a record references these photos; returns those not uploaded yet.

    Call inside the write transaction that creates the record.
    """
    shas = list(dict.fromkeys(shas))
    if shas:
        await PhotoRef.insert(*[
            PhotoRef(sha256=s, site=site_id, record_type=record_type, record_id=record_id, round_id=round_id)
            for s in shas
        ])
    return await missing_of(shas)
