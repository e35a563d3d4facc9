"""How much memory photo decoding may take at once in one server process.

A decode needs memory in proportion to the pixels it produces (up to 4 bytes
each), not to the bytes uploaded: a 200 KB PNG can decode to 200 MB. Uploads
are decoded in worker threads, so without a cap a few such files sent at once
would take gigabytes. Each decode first reserves its estimated cost here and
waits while the process is over budget; one decode bigger than the whole
budget runs alone.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from typing import Iterator

from PIL import Image

from server.settings import get_settings

# Bytes per pixel as Pillow stores each mode ("RGB" is padded to 4).
_ONE_BYTE = ("1", "L", "P")
_TWO_BYTES = ("I;16", "I;16B", "I;16L", "I;16N", "LA", "La", "PA")
# The decoded image, the working copy made while it is reduced or converted,
# and the decoder's own buffer (libwebp decodes into memory of its own first).
COPIES = 2


def decode_cost(image: Image.Image, source_pixels: int) -> int:
    """Estimated peak bytes to decode and convert `image` (after draft(), which shrinks JPEGs).

    Measured against Pillow 13 on 49-megapixel files, each estimate is above
    the real peak: RGBA PNG 330 MB (estimate 392), progressive JPEG 145 MB,
    baseline JPEG 25 MB (drafted to 1/4), WebP 745 MB (784: libwebp's
    animation decoder, which Pillow uses for every WebP, holds four canvases).
    """
    width, height = image.size
    bpp = 1 if image.mode in _ONE_BYTE else 2 if image.mode in _TWO_BYTES else 4
    if image.format == "WEBP":
        bpp = 8
    cost = width * height * bpp * COPIES
    if image.format == "JPEG" and image.info.get("progressive"):
        cost += source_pixels * 3  # libjpeg keeps every coefficient of a progressive file, whatever the scale
    return cost


def return_freed_memory_to_the_system() -> None:
    """Have glibc serve allocations of 1 MiB and more with mmap, so freeing them gives the memory back.

    glibc's default threshold grows after the first big free, and blocks freed
    in a worker thread's arena then stay with the process: six 36-megapixel
    decodes one after another in six threads left 1.6 GB resident (peak 1.1 GB
    in the server) where one decode needs 280 MB. Other C libraries are left alone.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3  # from malloc.h; setting it also turns the dynamic threshold off
    libc.mallopt(m_mmap_threshold, 1 << 20)


def decode_budget() -> "DecodeBudget":
    """The process's budget, made on first use from XUNJIAN_PHOTO_DECODE_MB."""
    global _BUDGET
    if _BUDGET is None:
        return_freed_memory_to_the_system()
        _BUDGET = DecodeBudget(get_settings().photo_decode_mb * 1024 * 1024)
    return _BUDGET


class DecodeBudget:
    """A counting limit on bytes instead of slots: small decodes share it, a big one waits for room."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self.used = 0
        self.peak = 0  # the most reserved at once, for tests and benchmarks
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        cost = max(1, min(cost, self.total))
        with self._changed:
            self._changed.wait_for(lambda: self.used + cost <= self.total)
            self.used += cost
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._changed:
                self.used -= cost
                self._changed.notify_all()


_BUDGET: DecodeBudget | None = None
