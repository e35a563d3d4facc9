"""The "possibly reused photo" flag: the same picture handed in for two different rounds or findings.

Two photos look the same when their 64-bit perceptual hashes differ in at most
REUSE_MAX_DISTANCE bits (a recompressed or resized copy of one picture stays
within 0-2 bits; two honest shots of the same checkpoint usually differ more).
Of two records sharing a look-alike photo, the later reference is flagged and
points at the earlier record, so a supervisor sees where it was used first.
"""

from __future__ import annotations

from typing import Any, Iterable

from server.photos.tables import Photo, PhotoRef

REUSE_MAX_DISTANCE = 3
QUARTER_COLUMNS = (Photo.phash_q1, Photo.phash_q2, Photo.phash_q3, Photo.phash_q4)


def quarters(phash: str) -> dict[str, str]:
    """The four 16-bit quarters of a hash, as column values of Photo."""
    return {col._meta.name: phash[i * 4:(i + 1) * 4] for i, col in enumerate(QUARTER_COLUMNS)}


def distance(a: str, b: str) -> int:
    """Hamming distance between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


async def look_alikes(phash: str) -> set[str]:
    """SHA-256 of every stored photo within REUSE_MAX_DISTANCE bits of `phash` (itself included).

    With at most 3 differing bits spread over 4 quarters, one quarter is
    identical, so the indexed quarter columns find every candidate.
    """
    parts = list(quarters(phash).values())
    where = QUARTER_COLUMNS[0] == parts[0]
    for col, part in zip(QUARTER_COLUMNS[1:], parts[1:]):
        where = where | (col == part)
    rows = await Photo.select(Photo.sha256, Photo.phash).where(where)
    return {r["sha256"] for r in rows if distance(r["phash"], phash) <= REUSE_MAX_DISTANCE}


class _Occasions:
    """What round or rectification a reference belongs to; refs sharing one are the same occasion.

    A visit belongs to its round; a finding to its rectification (same id) and
    to the round it was reported in; an "after" photo to its rectification. The
    round is on the reference itself (PhotoRef.round_id, set by whoever links it),
    so photos never read the records of the domains that reference them.
    """

    async def keys(self, ref: dict[str, Any]) -> set[tuple[str, str]]:
        kind = "rect" if ref["record_type"] in ("finding", "rect_after") else ref["record_type"]
        keys = {(kind, str(ref["record_id"]))}
        if ref["round_id"] is not None:
            keys.add(("round", str(ref["round_id"])))
        return keys

    async def same(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        return bool(await self.keys(a) & await self.keys(b))


async def flag_reuse(focus: Iterable[dict[str, Any]]) -> int:
    """Compare these references (rows of PhotoRef) with every other of their site; returns flags set.

    Call inside the write transaction that linked the references or stored their photo.
    """
    focus = list(focus)
    if not focus:
        return 0
    shas = list({ref["sha256"] for ref in focus})
    phash_of = {r["sha256"]: r["phash"] for r in
                await Photo.select(Photo.sha256, Photo.phash).where(Photo.sha256.is_in(shas))}
    occasions = _Occasions()
    flagged: set[int] = {ref["id"] for ref in focus if ref["possibly_reused"]}
    count = 0
    for ref in focus:
        phash = phash_of.get(ref["sha256"])
        if phash is None:
            continue  # not uploaded yet: judged when it arrives
        similar = await look_alikes(phash)
        candidates = await PhotoRef.select().where(
            PhotoRef.sha256.is_in(list(similar)) & (PhotoRef.site == ref["site"]) & (PhotoRef.id != ref["id"])
        ).order_by(PhotoRef.id)
        for other in candidates:
            if other["possibly_reused"]:
                flagged.add(other["id"])
            later, earlier = (ref, other) if other["id"] < ref["id"] else (other, ref)
            if later["id"] in flagged or await occasions.same(ref, other):
                continue
            await PhotoRef.update({
                PhotoRef.possibly_reused: True,
                PhotoRef.reused_record_type: earlier["record_type"],
                PhotoRef.reused_record_id: earlier["record_id"],
            }).where(PhotoRef.id == later["id"])
            flagged.add(later["id"])
            count += 1
    return count
