"""The Pillow work on its own (no HTTP, no database): limits, hashes, capture times, profiles."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from PIL import Image, ImageCms

from photo_samples import EXIF_IFD, encode, png_of_size, scene
from server.photos import processing
from server.photos.reuse import REUSE_MAX_DISTANCE, distance


def test_pillows_bomb_warning_is_an_error_even_under_a_generous_limit():
    """100 MP is past Pillow's own warning threshold (89 MP): rejected whatever the setting says."""
    with pytest.raises(processing.BadImage, match="(?i)decompression ?bomb"):
        processing.process(png_of_size(10000, 10000), "image/png", max_pixels=10**9)


def test_the_configured_pixel_limit_applies_before_decoding():
    with pytest.raises(processing.BadImage, match="over the limit of 119999"):
        processing.process(encode(scene(400, 300, 1), "PNG"), "image/png", max_pixels=400 * 300 - 1)
    assert processing.process(encode(scene(400, 300, 1), "PNG"), "image/png", max_pixels=400 * 300).width == 400


def test_perceptual_hash_survives_recompression_and_resizing_but_tells_pictures_apart():
    picture = scene(1200, 900, 11)
    original = processing.process(encode(picture, "JPEG", quality=95), "image/jpeg", 10**8).phash
    smaller = processing.process(encode(picture.resize((800, 600)), "JPEG", quality=55), "image/jpeg", 10**8).phash
    as_png = processing.process(encode(picture, "PNG"), "image/png", 10**8).phash
    assert distance(original, smaller) <= REUSE_MAX_DISTANCE and distance(original, as_png) <= REUSE_MAX_DISTANCE
    others = [processing.process(encode(scene(1200, 900, seed), "JPEG"), "image/jpeg", 10**8).phash
              for seed in range(12, 20)]
    assert min(distance(original, other) for other in others) > REUSE_MAX_DISTANCE


def _with_exif_tag(tag: int, value: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[tag] = value
    return encode(scene(200, 150, 3), "JPEG", exif=exif.tobytes())


def test_capture_time_without_offset_is_read_as_china_time():
    done = processing.process(_with_exif_tag(0x9003, "2026:03:01 08:00:00"), "image/jpeg", 10**8)
    assert done.captured_at == datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)


def test_a_nonsense_capture_time_is_dropped_not_rejected():
    done = processing.process(_with_exif_tag(0x9003, "not a date at all"), "image/jpeg", 10**8)
    assert done.captured_at is None and done.width == 200


def test_colour_profile_is_converted_and_not_copied():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    done = processing.process(encode(scene(300, 200, 4), "JPEG", icc_profile=srgb), "image/jpeg", 10**8)
    served = Image.open(io.BytesIO(done.full))
    assert "icc_profile" not in served.info and served.size == (300, 200)


def test_fit_keeps_the_aspect_ratio_and_never_enlarges():
    assert processing.fit((4032, 3024), 1600) == (1600, 1200)
    assert processing.fit((3024, 4032), 320) == (240, 320)
    assert processing.fit((1000, 10), 1600) == (1000, 10)
    assert processing.fit((20000, 10), 1600) == (1600, 1)
