"""Which records reference which photos: the references of a batch of records, decided in memory, written in bulk.

A record names photos by SHA-256; a reference row (PhotoRef) ties each to the
record, its site and (for a visit, or a finding made during a round) its round.
A photo that is uploaded already gets the reuse check (server/photos/reuse.py)
once its references are written, in the order the records came, with the
references that existed at that point.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from server.bulk import SQLiteText, insert_rows
from server.photos.reuse import flag_reuse
from server.photos.tables import PhotoRef


@dataclass
class PhotoLinks:
    """References decided but not written yet, in record order."""

    refs: list[dict[str, Any]] = field(default_factory=list)
    reuse: list[tuple[str, uuid.UUID]] = field(default_factory=list)  # records naming uploaded photos

    def link(self, present: set[str], site: Any, record_type: str, record_id: Any, shas: list[str],
             round_id: Any = None) -> list[str]:
        """Reference these photos from a record; returns those not uploaded yet (`present`: the uploaded ones)."""
        for sha in shas:
            self.refs.append({"sha256": sha, "site": site, "record_type": record_type, "record_id": record_id,
                              "round_id": round_id})
        missing = [s for s in shas if s not in present]
        if len(missing) < len(shas):
            self.reuse.append((record_type, record_id))
        return missing


async def write_links(links: PhotoLinks, present: set[str], text: SQLiteText | None = None) -> None:
    """Insert the references in order; a record naming uploaded photos gets its reuse check as it comes."""
    checked = set(links.reuse)
    stretch: list[dict[str, Any]] = []
    position = 0
    refs = links.refs
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
            uploaded = [r["sha256"] for r in refs[position:end] if r["sha256"] in present]
            await flag_reuse(await PhotoRef.select().where(
                (PhotoRef.record_type == key[0]) & (PhotoRef.record_id == key[1]) & PhotoRef.sha256.is_in(uploaded)))
        position = end
    await insert_rows(PhotoRef, stretch, text)
