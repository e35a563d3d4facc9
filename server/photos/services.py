"""Photos: receiving an upload, which records reference which photos, and what changes when one arrives.

The judging order of an upload is the contract's (shared/SYNC.md, Photos):
size 413, Content-Type 415, hash 400, already stored 200, decoding 422, stored 201.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, AsyncIterable, Iterable

import anyio.to_thread
from anyio.lowlevel import RunVar

from server.changes import next_position
from server.db import write_transaction
from server.errors import Invalid, NotFound, TooLarge, Unprocessable, UnsupportedType
from server.photos import processing, storage
from server.photos.reuse import flag_reuse, quarters
from server import events
from server.photos.links import PhotoLinks, write_links
from server.photos.tables import Photo, PhotoRef
from server.settings import get_settings
from server.staff.services import site_ids_of
from server.staff.tables import Staff

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


async def present_of(shas: Iterable[str]) -> set[str]:
    """The photos among `shas` the server has received."""
    wanted = list(dict.fromkeys(shas))
    return {s for s in wanted if s not in await missing_of(wanted)} if wanted else set()


async def link_photos(site_id: Any, record_type: str, record_id: Any, shas: Iterable[str],
                      round_id: Any = None) -> list[str]:
    """Record that one record references these photos; returns those not uploaded yet.

    Call inside the write transaction that creates the record. Pass `round_id`
    for a visit, and for a finding reported during a round, so the reuse check
    does not mistake the round's own photos for a reuse.
    """
    shas = list(dict.fromkeys(shas))
    if not shas:
        return []
    # Taking a position locks the change counter until commit; an arriving
    # photo takes it too. On PostgreSQL this orders the two, so a photo that
    # arrives while this record is being written is either seen here (not
    # missing) or sees this reference (and counts it as arrived), never neither.
    await next_position()
    links = PhotoLinks()
    present = await present_of(shas)
    missing = links.link(present, site_id, record_type, record_id, shas, round_id)
    await write_links(links, present)
    return missing


async def count_missing(record_types: tuple[str, ...], record_id: Any) -> int:
    """How many photos a record references (by these kinds of reference) that have not arrived."""
    rows = await PhotoRef.select(PhotoRef.sha256).where(
        PhotoRef.record_type.is_in(list(record_types)) & (PhotoRef.record_id == record_id))
    return len(await missing_of(r["sha256"] for r in rows))


async def photo_arrived(sha256: str, seq: int) -> None:
    """A photo was stored: the records naming it count their missing photos again (by event), reuse is checked.

    Call inside the write transaction that inserted the Photo row. The rounds and
    rectifications domains subscribe to `PhotoArrived` (server/wiring.py) and
    recompute their records' photos_missing from the references rather than
    decrementing it, so it stays right whatever order references and photos came in.
    """
    refs = await PhotoRef.select().where(PhotoRef.sha256 == sha256)
    await events.deliver(events.PhotoArrived(sha256=sha256, seq=seq, refs=refs))
    await flag_reuse(refs)


async def photo_exists(sha256: str) -> bool:
    return storage.is_sha256(sha256) and await Photo.exists().where(Photo.sha256 == sha256)


# Per event loop, like anyio's own default limiter.
_DECODE_THREADS: RunVar[anyio.CapacityLimiter] = RunVar("xunjian_decode_threads")


def _decode_threads() -> anyio.CapacityLimiter:
    """Threads of their own for decoding: uploads waiting for decode memory (processing's budget)
    must not hold the worker threads that serve photos and write files."""
    try:
        return _DECODE_THREADS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(8)
        _DECODE_THREADS.set(limiter)
        return limiter


async def _read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (the rest is never buffered)."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _too_large(limit: int) -> TooLarge:
    mib = limit / (1024 * 1024)
    return TooLarge(f"照片超过 {mib:g} MiB / photo is larger than {mib:g} MiB", code="too_large", limit=limit)


async def receive_photo(uploader: Staff, sha256: str, content_type: str | None, content_length: int | None,
                        chunks: AsyncIterable[bytes]) -> bool:
    """Judge and store an upload; True when stored now (201), False when it was already there (200)."""
    settings = get_settings()
    limit = settings.photo_max_bytes
    if content_length is not None and content_length > limit:
        raise _too_large(limit)  # answered before reading a byte of the body
    data = await _read_limited(chunks, limit)
    if data is None:
        raise _too_large(limit)
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in processing.FORMATS:
        raise UnsupportedType("只接受 JPEG、PNG 或 WebP 照片 / only JPEG, PNG or WebP photos are accepted",
                              code="unsupported_type")
    sha256 = sha256.lower()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Invalid("照片内容与其 SHA-256 不符, 请重新上传 / the photo does not match its SHA-256; upload it again",
                      code="hash_mismatch")
    if await photo_exists(sha256):
        return False
    try:
        done = await anyio.to_thread.run_sync(processing.process, data, media_type, settings.photo_max_pixels,
                                              limiter=_decode_threads())
    except processing.BadImage as exc:
        raise Unprocessable("无法识别的图片 (损坏、截断、过大或不是图片) / not a usable image "
                            "(corrupt, truncated, too many pixels or not an image)",
                            code="bad_image", detail=str(exc)[:200]) from exc
    await anyio.to_thread.run_sync(storage.save_copies, sha256, done.full, done.thumb)
    return await _store(uploader, sha256, media_type, len(data), done)


async def _store(uploader: Staff, sha256: str, media_type: str, size: int, done: processing.ProcessedPhoto) -> bool:
    async with write_transaction():
        seq = await next_position()  # see link_photos: orders this against records being written
        if await Photo.exists().where(Photo.sha256 == sha256):
            return False  # the same photo from another connection got in first
        await Photo.insert(Photo(
            sha256=sha256, uploader=uploader.id, content_type=media_type, bytes=size,
            width=done.width, height=done.height, phash=done.phash, captured_at=done.captured_at,
            **quarters(done.phash),
        ))
        await photo_arrived(sha256, seq)
    return True


async def readable_copy(user: Staff, sha256: str, size: str) -> bytes:
    """A served copy of a photo, for staff of a site whose record references it, else its uploader only.

    Everyone else gets NotFound, as if the photo did not exist.
    """
    sha256 = sha256.lower()
    photo = await Photo.select(Photo.uploader).where(Photo.sha256 == sha256).first() \
        if storage.is_sha256(sha256) else None
    if photo is None:
        raise NotFound("没有这张照片 / no such photo")
    sites = list(dict.fromkeys(r["site"] for r in
                               await PhotoRef.select(PhotoRef.site).where(PhotoRef.sha256 == sha256)))
    allowed = bool(await site_ids_of(user.id, sites)) if sites else photo["uploader"] == user.id
    data = await anyio.to_thread.run_sync(storage.read_copy, sha256, size) if allowed else None
    if data is None:
        raise NotFound("没有这张照片 / no such photo")
    return data


async def photos_of_records(record_ids: Iterable[Any],
                            record_types: Iterable[str] = RECORD_TYPES) -> dict[Any, list[dict[str, Any]]]:
    """Each record's photos in the order they were linked, with what the console shows about them.

    Keys are record ids (a rectification's id gives its "finding" and
    "rect_after" photos; a visit's id its own). Each photo: sha256,
    record_type, received, width, height, captured_at, possibly_reused,
    reused_record_type, reused_record_id, full_url, thumb_url.
    """
    ids = list(dict.fromkeys(i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in record_ids))
    result: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return result
    refs = await PhotoRef.select().where(
        PhotoRef.record_id.is_in(ids) & PhotoRef.record_type.is_in(list(record_types))).order_by(PhotoRef.id)
    photos = {p["sha256"]: p for p in await Photo.select(
        Photo.sha256, Photo.width, Photo.height, Photo.captured_at, Photo.received_at
    ).where(Photo.sha256.is_in(list({r["sha256"] for r in refs}) or [""]))}
    for ref in refs:
        photo = photos.get(ref["sha256"])
        result.setdefault(ref["record_id"], []).append({
            "sha256": ref["sha256"],
            "record_type": ref["record_type"],
            "received": photo is not None,
            "width": photo["width"] if photo else None,
            "height": photo["height"] if photo else None,
            "captured_at": photo["captured_at"] if photo else None,
            "received_at": photo["received_at"] if photo else None,
            "possibly_reused": ref["possibly_reused"],
            "reused_record_type": ref["reused_record_type"] or None,
            "reused_record_id": ref["reused_record_id"],
            "full_url": f"/photos/{ref['sha256']}?size=full",
            "thumb_url": f"/photos/{ref['sha256']}?size=thumb",
        })
    return result

