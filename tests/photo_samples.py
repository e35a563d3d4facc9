"""Real images and real bad inputs for the photo tests, built in memory with Pillow and zlib."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib

from PIL import Image

EXIF_IFD, GPS_IFD, ORIENTATION = 0x8769, 0x8825, 0x0112


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scene(width: int, height: int, seed: int) -> Image.Image:
    """A picture with structure (coloured blocks), different for every seed, so perceptual hashes differ."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(24):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 8, width // 2), rng.randrange(height // 8, height // 2)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, min(width, x + w), min(height, y + h)))
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg(width: int = 640, height: int = 480, seed: int = 1, quality: int = 90) -> bytes:
    return encode(scene(width, height, seed), "JPEG", quality=quality)


def upright_two_tone() -> Image.Image:
    """300x200 landscape: red top half, blue bottom half (what the person saw)."""
    image = Image.new("RGB", (300, 200), (220, 20, 20))
    image.paste((20, 20, 220), (0, 100, 300, 200))
    return image


def phone_jpeg_with_gps(serial: int = 0) -> bytes:
    """A JPEG as a phone held sideways writes it: pixels stored rotated, orientation 6, GPS, a comment.

    `serial` goes into the EXIF so each call site gets bytes (and a SHA-256) of its own.
    """
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # display = stored rotated 90 degrees clockwise
    exif[0x010F] = "PhoneMaker"
    exif[0x0131] = f"camera-app {serial}"  # Software
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (31.0, 14.0, 5.5), 3: "E", 4: (121.0, 28.0, 1.25)})
    exif.get_ifd(EXIF_IFD).update({0x9003: "2024:05:01 10:20:30", 0x9011: "+08:00"})
    stored = upright_two_tone().transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes(), comment=b"home address 12-3")


def png_of_size(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of one colour: a 30000x30000 one is about 100 KB (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    parts = []
    rows_per_block = max(1, (1 << 20) // len(row))
    block = row * rows_per_block
    left = height
    while left:
        n = min(left, rows_per_block)
        parts.append(packer.compress(block if n == rows_per_block else row * n))
        left -= n
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       b'<rect width="100" height="100" fill="red"/><script>alert(1)</script></svg>\n')

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
       b"newpath 0 0 moveto 100 100 lineto stroke\n(%pipe%id) (r) file\nshowpage\n%%EOF\n")

TEXT = "这不是照片, 只是一个改了扩展名的文本文件。\nnot a photo, a text file renamed to .jpg\n".encode()
