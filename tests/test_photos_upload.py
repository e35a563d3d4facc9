"""PUT and HEAD /sync/photos/{sha256}: every answer of the contract (shared/SYNC.md, Photos) from real inputs."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from conftest import device_token, run
from photo_samples import EPS, SVG, TEXT, jpeg, png_of_size, sha

MIB = 1024 * 1024


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def phone(client: Any, make_site: Any) -> dict[str, Any]:
    """A guard's phone on a fresh site: the client and its device token headers."""
    site = make_site(roles=("guard",))
    token = device_token(client, site["users"]["guard"].username)
    return {"client": client, "auth": bearer(token), "token": token, "site": site}


def put(phone: dict[str, Any], data: bytes, content_type: str = "image/jpeg", digest: str | None = None) -> Any:
    headers = {**phone["auth"], "Content-Type": content_type}
    return phone["client"].put(f"/sync/photos/{digest or sha(data)}", content=data, headers=headers)


def photo_count() -> int:
    from server.photos.tables import Photo

    return run(Photo.count())


def stored_files(digest: str) -> list[str]:
    from server.settings import get_settings

    shard = get_settings().photo_dir / digest[:2]
    return sorted(p.name for p in shard.glob(f"{digest}*")) if shard.exists() else []


def assert_refused(response: Any, status: int, code: str, digest: str, before: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and " / " in body["reason"]  # bilingual, readable
    assert photo_count() == before and stored_files(digest) == []


def test_new_photo_is_201_then_200_and_head_follows(phone):
    data = jpeg(seed=101)
    digest = sha(data)
    assert phone["client"].head(f"/sync/photos/{digest}", headers=phone["auth"]).status_code == 404
    first = put(phone, data)
    assert first.status_code == 201 and first.json()["sha256"] == digest
    assert phone["client"].head(f"/sync/photos/{digest}", headers=phone["auth"]).status_code == 200
    before = photo_count()
    again = put(phone, data)
    assert again.status_code == 200 and photo_count() == before
    assert stored_files(digest) == [f"{digest}.full.jpg", f"{digest}.thumb.jpg"]


def test_png_and_webp_are_accepted(phone):
    from photo_samples import encode, scene

    assert put(phone, encode(scene(500, 400, 102), "PNG"), "image/png").status_code == 201
    assert put(phone, encode(scene(500, 400, 103), "WEBP", quality=80), "image/webp").status_code == 201


def test_upload_and_head_need_a_device_token(phone):
    data = jpeg(seed=104)
    client = phone["client"]
    no_token = client.put(f"/sync/photos/{sha(data)}", content=data, headers={"Content-Type": "image/jpeg"})
    assert no_token.status_code == 401 and no_token.json()["code"] == "bad_token"
    wrong = client.put(f"/sync/photos/{sha(data)}", content=data,
                       headers={"Content-Type": "image/jpeg", **bearer("not-a-token")})
    assert wrong.status_code == 401
    assert client.head(f"/sync/photos/{sha(data)}").status_code == 401
    assert stored_files(sha(data)) == []


def test_hash_mismatch_is_400_even_for_a_stored_hash(phone):
    stored = jpeg(seed=105)
    assert put(phone, stored).status_code == 201
    other = jpeg(seed=106)
    before = photo_count()
    response = put(phone, other, digest=sha(stored))
    assert response.status_code == 400 and response.json()["code"] == "hash_mismatch"
    assert photo_count() == before and stored_files(sha(other)) == []
    flipped = bytearray(other)
    flipped[len(flipped) // 2] ^= 0xFF
    assert_refused(put(phone, bytes(flipped), digest=sha(other)), 400, "hash_mismatch", sha(other), before)


def test_twenty_mib_upload_is_413(phone):
    data = jpeg(seed=107) + os.urandom(20 * MIB)
    assert_refused(put(phone, data), 413, "too_large", sha(data), photo_count())


def test_twenty_mib_streamed_without_content_length_is_413(phone):
    chunk = os.urandom(MIB)
    data = chunk * 20

    def body():
        for _ in range(20):
            yield chunk

    response = phone["client"].put(f"/sync/photos/{sha(data)}", content=body(),
                                   headers={**phone["auth"], "Content-Type": "image/jpeg"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_refused(response, 413, "too_large", sha(data), photo_count())


def test_413_comes_from_content_length_before_the_body_is_read(app, phone):
    """A phone announcing 20 MiB is told at once: the server never asks for a byte of the body."""
    digest = "ab" * 32
    reads: list[Any] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append(1)
        return {"type": "http.request", "body": b"\xff" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
        "path": f"/sync/photos/{digest}", "raw_path": f"/sync/photos/{digest}".encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver.local", 80),
        "headers": [(b"host", b"testserver.local"), (b"authorization", f"Bearer {phone['token']}".encode()),
                    (b"content-type", b"image/jpeg"), (b"content-length", str(20 * MIB).encode())],
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413 and b'"too_large"' in body
    assert reads == []


def test_judging_order_size_then_type_then_hash(phone):
    before = photo_count()
    huge_svg = SVG + b" " * (16 * MIB)
    assert_refused(put(phone, huge_svg, "image/svg+xml", digest="0" * 64), 413, "too_large", "0" * 64, before)
    good = jpeg(seed=108)
    wrong_type_and_hash = put(phone, good, "image/gif", digest="1" * 64)
    assert_refused(wrong_type_and_hash, 415, "unsupported_type", "1" * 64, before)
    assert_refused(put(phone, TEXT, "image/jpeg", digest="2" * 64), 400, "hash_mismatch", "2" * 64, before)


@pytest.mark.parametrize("data, content_type", [
    (SVG, "image/svg+xml"), (EPS, "application/postscript"), (EPS, "image/x-eps"), (TEXT, "text/plain"),
    (b"GIF89a" + b"\x00" * 64, "image/gif"), (SVG, ""),
])
def test_unsupported_types_are_415(phone, data, content_type):
    assert_refused(put(phone, data, content_type), 415, "unsupported_type", sha(data), photo_count())


def _truncated_jpeg() -> bytes:
    whole = jpeg(1200, 900, seed=109)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize("name, make, content_type", [
    ("text file named .jpg", lambda: TEXT, "image/jpeg"),
    ("truncated JPEG", _truncated_jpeg, "image/jpeg"),
    ("SVG sent as PNG", lambda: SVG, "image/png"),
    ("EPS sent as JPEG", lambda: EPS, "image/jpeg"),
    ("PNG sent as JPEG", lambda: png_of_size(64, 64), "image/jpeg"),
    ("JPEG sent as WebP", lambda: jpeg(seed=110), "image/webp"),
    ("empty body", lambda: b"", "image/jpeg"),
    ("30000x30000 PNG decompression bomb", lambda: png_of_size(30000, 30000), "image/png"),
    ("8000x8000 PNG over the 50 MP limit", lambda: png_of_size(8000, 8000), "image/png"),
])
def test_bad_images_are_422(phone, name, make, content_type):
    data = make()
    if name.startswith("30000"):
        assert len(data) < 200 * 1024  # cheap to send, 900 megapixels to decode
    response = put(phone, data, content_type)
    assert_refused(response, 422, "bad_image", sha(data), photo_count())


def test_a_bad_image_can_be_resent_fixed(phone):
    """A 422 leaves nothing behind: the complete file under the same name is then stored."""
    whole = jpeg(900, 700, seed=111)
    half = whole[: len(whole) // 2]
    assert put(phone, half).status_code == 422
    assert phone["client"].head(f"/sync/photos/{sha(half)}", headers=phone["auth"]).status_code == 404
    assert put(phone, whole).status_code == 201


def test_the_same_new_photo_from_two_connections_is_stored_once(app, phone):
    """Two uploads of one photo at once (two phones, or a retry racing the first try): one row, 201 and 200."""
    import httpx

    from server.photos.tables import Photo

    data = jpeg(1600, 1200, seed=112)
    headers = {**phone["auth"], "Content-Type": "image/jpeg"}

    async def both() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
            answers = await asyncio.gather(*[c.put(f"/sync/photos/{sha(data)}", content=data, headers=headers)
                                             for _ in range(2)])
        return sorted(a.status_code for a in answers)

    assert asyncio.run(both()) == [200, 201]
    assert run(Photo.count().where(Photo.sha256 == sha(data))) == 1


def test_decoding_runs_off_the_event_loop(phone, monkeypatch):
    """Pillow work happens in a worker thread: no event loop is running where the photo is decoded."""
    from server.photos import processing

    loops: list[bool] = []
    real = processing.process

    def recording(*args: Any) -> Any:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:
            loops.append(False)
        return real(*args)

    monkeypatch.setattr(processing, "process", recording)
    assert put(phone, jpeg(seed=113)).status_code == 201
    assert loops == [False]
