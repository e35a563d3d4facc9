"""Hostile uploads, built in memory: files made to look like photos while attacking the decoder,
the memory of the server, or whoever later opens what the server serves."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from photo_samples import encode, png_of_size, scene

# What a payload looks like, so a test can prove no served copy carries it.
MARKER = b"XUNJIAN-HOSTILE-PAYLOAD"
HTML = b'<html><body><script>alert("' + MARKER + b'")</script></body></html>'
USER_COMMENT, EXIF_IFD = 0x9286, 0x8769


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def polyglot_jpeg_html() -> bytes:
    """A real JPEG that is also an HTML page: script in a comment segment and again after the image ends."""
    return encode(scene(800, 600, 71), "JPEG", quality=85, comment=HTML) + HTML


def png_bomb() -> bytes:
    """About 100 KB on the wire, 900 megapixels decoded."""
    return png_of_size(30000, 30000)


def huge_dimensions_jpeg() -> bytes:
    """A 16x16 JPEG whose frame header claims 65000x65000 (4.2 gigapixels) in under a kilobyte."""
    small = encode(Image.new("RGB", (16, 16), (200, 10, 10)), "JPEG")
    sof = small.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    return small[:sof + 5] + struct.pack(">HH", 65000, 65000) + small[sof + 9:]


def huge_dimensions_png() -> bytes:
    """A PNG header claiming 65000x65000 RGBA with a few bytes of data."""
    header = struct.pack(">IIBBBBB", 65000, 65000, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + _chunk(b"IEND", b""))


def _exif_with_comment(size: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = "description " + MARKER.decode()  # ImageDescription
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"ASCII\x00\x00\x00" + (MARKER + b" ") * (size // (len(MARKER) + 1))
    return exif


def exif_huge_comment_jpeg(megabytes: int = 13) -> bytes:
    """A JPEG with an EXIF UserComment as long as a segment allows, then megabytes of comment segments."""
    base = encode(scene(1200, 900, 72), "JPEG", quality=85, exif=_exif_with_comment(60_000).tobytes())
    comment = MARKER * (65_000 // len(MARKER))
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    count = megabytes * 1024 * 1024 // len(segment)
    return base[:2] + segment * count + base[2:]


def exif_huge_png(megabytes: int = 12) -> bytes:
    """A PNG whose eXIf chunk (no 64 KB limit there) holds megabytes of UserComment."""
    return encode(scene(1000, 750, 73), "PNG", exif=_exif_with_comment(megabytes * 1024 * 1024).tobytes())


def animated_webp(frames: int = 3000) -> bytes:
    """Thousands of tiny frames: decoding all of them is work no photo needs."""
    first, *rest = [Image.new("RGB", (48, 48), ((i * 7) % 256, (i * 13) % 256, (i * 29) % 256))
                    for i in range(frames)]
    out = io.BytesIO()
    first.save(out, "WEBP", save_all=True, append_images=rest, duration=20, loop=0, quality=30, method=0)
    return out.getvalue()


def big_webp(edge: int = 7000) -> bytes:
    """A valid 49-megapixel WebP: Pillow decodes it through libwebp's animation decoder (four canvases)."""
    out = io.BytesIO()
    Image.new("RGB", (edge, edge), (30, 120, 60)).save(out, "WEBP", quality=20, method=0)
    return out.getvalue()


def large_png(edge: int = 6000, seed: int = 0) -> bytes:
    """A valid 36-megapixel RGB PNG of a few hundred KB (blocks of colour compress well)."""
    image = Image.new("RGB", (edge, edge), (seed % 256, 90, 160))
    image.paste((250, 250, 250), (edge // 4, edge // 4, edge // 2, edge // 2))
    return encode(image, "PNG", compress_level=1)
