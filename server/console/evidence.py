"""Photo evidence of records for the console's templates, over the photos domain's query."""

from __future__ import annotations

from typing import Any, Iterable

from server.photos.services import photos_of_records


async def photos_of(refs: Iterable[tuple[str, Any, list[str]]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """For (record_type, record_id, shas) triples: each record's photos in the record's order, with their
    times and the "possibly reused" flag. A photo the phone has not uploaded yet has `arrived: False`."""
    wanted = [(t, i, list(s or [])) for t, i, s in refs if i is not None]
    known: dict[tuple[str, str, str], dict[str, Any]] = {}
    if wanted:
        found = await photos_of_records([i for _, i, _ in wanted], {t for t, _, _ in wanted})
        for record_id, photos in found.items():
            for p in photos:
                known[(p["record_type"], str(record_id), p["sha256"])] = p
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record_type, record_id, shas in wanted:
        items = []
        for sha in shas:
            p = known.get((record_type, str(record_id), sha), {})
            items.append({
                "sha256": sha, "arrived": bool(p.get("received")), "captured_at": p.get("captured_at"),
                "received_at": p.get("received_at"), "reused": bool(p.get("possibly_reused")),
                "reused_type": p.get("reused_record_type") or "", "reused_id": p.get("reused_record_id"),
            })
        out[(record_type, str(record_id))] = items
    return out
