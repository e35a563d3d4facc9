"""The decode budget in-process: concurrent decodes never reserve more than it, the too-big are refused
before a pixel is decoded, animations are refused (tests/test_security_uploads.py measures the server)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

import hostile_images as hostile
from photo_samples import encode, scene


def test_concurrent_decodes_stay_within_the_budget() -> None:
    from server.photos import processing
    from server.photos.budget import decode_budget

    budget = decode_budget()
    files = [hostile.large_png(4000, seed) for seed in range(4)]  # each ~128 MB to decode: two fit at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda data: processing.process(data, "image/png", 50_000_000), files))
    assert [(d.width, d.height) for d in done] == [(4000, 4000)] * 4
    assert 0 < budget.peak <= budget.total
    assert budget.used == 0


def test_a_decode_bigger_than_the_budget_is_refused_unread() -> None:
    from server.photos import processing

    with pytest.raises(processing.BadImage, match="more than the 320 MiB"):
        processing.process(hostile.big_webp(), "image/webp", 50_000_000)


def test_animated_png_is_refused_but_a_still_one_is_a_photo() -> None:
    from server.photos import processing

    frames = [scene(120, 90, seed) for seed in range(5)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(processing.BadImage, match="animated"):
        processing.process(out.getvalue(), "image/png", 50_000_000)
    still = processing.process(encode(frames[0], "PNG"), "image/png", 50_000_000)
    assert Image.open(io.BytesIO(still.full)).size == (120, 90)


def test_shrinking_keeps_orientation_and_transparency() -> None:
    """A big RGBA PNG turned by EXIF: reduced in bands before any copy, still upright and flattened on white."""
    from server.photos import processing

    image = Image.new("RGBA", (4000, 2000), (0, 0, 0, 0))  # transparent: becomes white
    image.paste((200, 0, 0, 255), (0, 0, 2000, 2000))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: red ends up on top
    done = processing.process(encode(image, "PNG", exif=exif.tobytes()), "image/png", 50_000_000)
    assert (done.width, done.height) == (2000, 4000)
    full = Image.open(io.BytesIO(done.full)).convert("RGB")
    assert full.size == (800, 1600)
    red, white = full.getpixel((400, 200)), full.getpixel((400, 1400))
    assert red[0] > 180 and red[1] < 40 and min(white) > 235
