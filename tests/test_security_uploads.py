"""A corpus of hostile uploads against the real server process, whose memory is watched.

Each file is PUT to /sync/photos/{sha256} of a live server (its own process and
data directory). Refused ones get a 4xx and leave nothing stored; valid but odd
ones are stored as re-encoded copies that carry nothing of the payload. Before
each upload the server's peak-RSS counter is reset (/proc/<pid>/clear_refs), so
its VmHWM after the upload is that upload's own peak; all must stay under
MEMORY_BOUND_MB (README, Security).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from PIL import Image

import hostile_images as hostile
from conftest import DEMO_PASSWORD, LiveServer
from photo_samples import encode, scene

MEMORY_BOUND_MB = 600


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Watched:
    """The live server and its memory: VmRSS now, VmHWM (peak) since the last reset."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.pid = server.proc.pid  # type: ignore[union-attr]
        self.http = httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {token}"})
        self.rows: list[str] = []

    def _status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} for {self.pid}")

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def peak_mb(self) -> float:
        return self._status_mb("VmHWM")

    def put(self, data: bytes, content_type: str, **kwargs: Any) -> httpx.Response:
        return self.http.put(f"/sync/photos/{sha(data)}", content=data, headers={"Content-Type": content_type},
                             **kwargs)

    def measure(self, name: str, upload: Callable[[], Any]) -> tuple[Any, float]:
        before = self.rss_mb()
        self.reset_peak()
        result = upload()
        peak = self.peak_mb()
        statuses = [r.status_code for r in (result if isinstance(result, list) else [result])]
        self.rows.append(f"{name:<34} {','.join(map(str, sorted(set(statuses)))):>8} "
                         f"{before:8.0f} {peak:8.0f} {peak - before:+8.0f}")
        return result, peak


@pytest.fixture(scope="module")
def watched() -> Iterator[Watched]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-hostile-"))).start()
    try:
        login = httpx.post(f"{server.url}/api/auth/device", timeout=60, json={
            "username": "guard1", "password": DEMO_PASSWORD, "device_id": "hostile", "device_name": "hostile"})
        assert login.status_code == 200, login.text
        w = Watched(server, login.json()["token"])
        # Warm up with a normal photo, so the first hostile file is not charged for imports and caches.
        assert w.put(encode(scene(1600, 1200, 1), "JPEG"), "image/jpeg").status_code == 201
        yield w
        print(f"\n{'upload':<34} {'status':>8} {'rss MB':>8} {'peak MB':>8} {'delta':>8}")
        print("\n".join(w.rows))
        w.http.close()
    finally:
        server.stop()


REFUSED = [
    ("PNG bomb (100 KB, 900 MP)", hostile.png_bomb, "image/png"),
    ("JPEG claiming 65000x65000", hostile.huge_dimensions_jpeg, "image/jpeg"),
    ("PNG claiming 65000x65000", hostile.huge_dimensions_png, "image/png"),
    ("animated WebP, 3000 frames", hostile.animated_webp, "image/webp"),
    ("WebP of 49 MP (decode > budget)", hostile.big_webp, "image/webp"),
    ("HTML sent as image/png", lambda: hostile.HTML, "image/png"),
]


@pytest.mark.parametrize("name, make, content_type", REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_files_are_refused_within_the_memory_bound(watched: Watched, name: str, make: Callable[[], bytes],
                                                           content_type: str) -> None:
    data = make()
    response, peak = watched.measure(name, lambda: watched.put(data, content_type))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "bad_image"
    assert watched.http.head(f"/sync/photos/{sha(data)}").status_code == 404  # nothing stored
    assert peak < MEMORY_BOUND_MB


STORED = [
    ("polyglot JPEG/HTML", hostile.polyglot_jpeg_html, "image/jpeg"),
    ("JPEG with 13 MB of EXIF/comments", hostile.exif_huge_comment_jpeg, "image/jpeg"),
    ("PNG with a 12 MB eXIf chunk", hostile.exif_huge_png, "image/png"),
]


@pytest.mark.parametrize("name, make, content_type", STORED, ids=[s[0] for s in STORED])
def test_odd_but_valid_photos_are_stored_without_a_trace_of_the_payload(
        watched: Watched, name: str, make: Callable[[], bytes], content_type: str) -> None:
    data = make()
    assert hostile.MARKER in data
    response, peak = watched.measure(name, lambda: watched.put(data, content_type))
    assert response.status_code == 201, response.text
    assert peak < MEMORY_BOUND_MB
    for size in ("full", "thumb"):
        served = watched.http.get(f"/photos/{sha(data)}?size={size}")
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert hostile.MARKER not in served.content and b"<script" not in served.content.lower()
        copy = Image.open(io.BytesIO(served.content))
        assert copy.format == "JPEG" and not copy.getexif() and "comment" not in copy.info
        assert served.content.endswith(b"\xff\xd9")  # nothing after the image's end
        assert len(served.content) < 1_000_000


def test_concurrent_large_photos_wait_for_decode_memory(watched: Watched) -> None:
    """Six valid 36-megapixel PNGs at once: each decode alone fits, together they would not; all are stored."""
    files = [hostile.large_png(6000, seed) for seed in range(6)]

    def all_at_once() -> list[httpx.Response]:
        with ThreadPoolExecutor(max_workers=len(files)) as pool:
            return list(pool.map(lambda data: watched.put(data, "image/png"), files))

    responses, peak = watched.measure("6 x 36 MP PNG at once", all_at_once)
    assert [r.status_code for r in responses] == [201] * len(files)
    assert peak < MEMORY_BOUND_MB


def test_an_endless_body_is_cut_off_at_the_limit(watched: Watched) -> None:
    """A 64 MiB body sent without Content-Length (chunked): refused once 15 MiB have arrived."""
    def chunks() -> Iterator[bytes]:
        block = b"\xff\xd8" + b"\x00" * (1024 * 1024 - 2)
        for _ in range(64):
            yield block

    response, peak = watched.measure("64 MiB chunked body", lambda: watched.http.put(
        f"/sync/photos/{'0' * 64}", content=chunks(), headers={"Content-Type": "image/jpeg"}))
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert peak < MEMORY_BOUND_MB
