"""Photo evidence of records: each photo with its times and the "possibly reused" flag."""

from __future__ import annotations

from typing import Any, Iterable

from server.photos.tables import Photo, PhotoRef


async def photos_of(refs: Iterable[tuple[str, Any, list[str]]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """For (record_type, record_id, shas) triples: each record's photos in order, with their evidence.

    A photo the phone has not uploaded yet is listed with `arrived: False`.
    """
    wanted = [(t, i, list(s or [])) for t, i, s in refs]
    shas = {s for _, _, ss in wanted for s in ss}
    ids = list({i for _, i, _ in wanted if i is not None})
    photos: dict[str, dict[str, Any]] = {}
    flags: dict[tuple[str, str, str], dict[str, Any]] = {}
    if shas:
        for row in await Photo.select(Photo.sha256, Photo.captured_at, Photo.received_at, Photo.width,
                                      Photo.height).where(Photo.sha256.is_in(list(shas))):
            photos[row["sha256"]] = row
    if ids:
        for row in await PhotoRef.select(
            PhotoRef.sha256, PhotoRef.record_type, PhotoRef.record_id, PhotoRef.possibly_reused,
            PhotoRef.reused_record_type, PhotoRef.reused_record_id,
        ).where(PhotoRef.record_id.is_in(ids)):
            flags[(row["record_type"], str(row["record_id"]), row["sha256"])] = row
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record_type, record_id, record_shas in wanted:
        items = []
        for sha in record_shas:
            meta = photos.get(sha)
            flag = flags.get((record_type, str(record_id), sha), {})
            items.append({
                "sha256": sha, "arrived": meta is not None,
                "captured_at": meta["captured_at"] if meta else None,
                "received_at": meta["received_at"] if meta else None,
                "reused": bool(flag.get("possibly_reused")),
                "reused_type": flag.get("reused_record_type") or "",
                "reused_id": flag.get("reused_record_id"),
            })
        out[(record_type, str(record_id))] = items
    return out
