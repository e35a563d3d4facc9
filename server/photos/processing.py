"""Pillow work on an uploaded photo: decode safely, orient, strip, resize, re-encode, hash.

Everything here is synchronous CPU work on untrusted bytes; callers run it in
a worker thread so the event loop keeps serving other requests.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image, ImageCms, ImageOps

from server.photos.budget import decode_budget, decode_cost

log = logging.getLogger("xunjian.photos")

# The declared Content-Type decides the only decoder Pillow may try, so an SVG,
# EPS or PDF sent as image/png never reaches another parser.
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

FULL_EDGE = 1600
THUMB_EDGE = 320
FULL_QUALITY = 85
THUMB_QUALITY = 80

# EXIF wall-clock times without an offset are local time of the phone; the
# upload is not tied to a site, and Xunjian's sites default to this zone.
EXIF_DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ORIENTATION = 0x0112

# Pillow only warns between its limit and twice its limit; an upload that big
# is a bomb to us. The filter covers Pillow's own checks; _decode also compares
# with Pillow's limit itself, because a warnings filter is process-global state
# that any catch_warnings() elsewhere (pytest does) silently resets.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Rows reduced at a time when a big decode is shrunk (a band is copied, not the whole image).
_BAND_ROWS = 512


class BadImage(Exception):
    """The bytes do not decode as the declared format within the limits."""


@dataclass(frozen=True)
class ProcessedPhoto:
    full: bytes  # JPEG, longest edge at most FULL_EDGE, upright, no metadata
    thumb: bytes  # JPEG, longest edge at most THUMB_EDGE
    width: int  # of the original, as seen upright
    height: int
    phash: str  # 64-bit dHash as 16 hex digits
    captured_at: datetime | None  # EXIF DateTimeOriginal, read before stripping


def fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """`size` scaled down (never up) so its longest side is at most `edge`, aspect ratio kept."""
    w, h = size
    longest = max(w, h)
    if longest <= edge:
        return w, h
    scale = edge / longest
    return max(1, round(w * scale)), max(1, round(h * scale))


def dhash(image: Image.Image) -> str:
    """A 64-bit difference hash: is each pixel of a 9x8 grey copy brighter than its right neighbour."""
    small = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return f"{bits:016x}"


def _captured_at(exif: Image.Exif) -> datetime | None:
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(0x0132)  # DateTime as a fallback
    if not isinstance(raw, str):
        return None
    taken = datetime.strptime(raw.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str) and len(offset.strip()) >= 6:
        sign = -1 if offset.strip()[0] == "-" else 1
        hours, minutes = offset.strip()[1:6].split(":")
        zone: timezone | ZoneInfo = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    else:
        zone = EXIF_DEFAULT_ZONE
    if not 1990 <= taken.year <= 2100:
        return None
    return taken.replace(tzinfo=zone).astimezone(timezone.utc)


def _read_exif(image: Image.Image) -> tuple[int, datetime | None]:
    """Orientation and capture time; broken EXIF only loses them, it never rejects the photo."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - any EXIF parsing failure just means no metadata
        return 1, None
    orientation = exif.get(_ORIENTATION, 1)
    try:
        captured = _captured_at(exif)
    except (ValueError, TypeError, KeyError, OverflowError):
        captured = None
    return (orientation if isinstance(orientation, int) else 1), captured


def _to_srgb(image: Image.Image) -> Image.Image:
    """Plain RGB in sRGB: colour profiles are converted away, transparency flattened on white."""
    icc = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        image = image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc and image.mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # an unreadable profile: show the pixels as they are
    return image if image.mode == "RGB" else image.convert("RGB")


def _encode(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # Nothing of the original travels: Pillow would copy a JPEG comment from
    # `info`, and exif/icc/xmp are only written when passed, which they are not.
    image.info = {}
    # optimize: about 15% fewer bytes on every later view, for one-off encoding time.
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=False)
    return out.getvalue()


def _open(data: bytes, fmt: str, max_pixels: int) -> tuple[Image.Image, int, int]:
    """The image with only its header read (size checked, animation refused, a JPEG drafted smaller),
    and the original's width and height."""
    image = Image.open(io.BytesIO(data), formats=[fmt])
    width, height = image.size
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    if width * height > limit:
        raise BadImage(f"decompression bomb: {width}x{height} pixels is over the limit of {limit}")
    if fmt in ("PNG", "WEBP") and getattr(image, "is_animated", False):
        # A phone's camera never makes one, and an animation's frames are no
        # single piece of evidence. (A JPEG with a depth map, MPO, is a photo.)
        raise BadImage(f"animated image ({getattr(image, 'n_frames', '?')} frames)")
    if fmt == "JPEG":
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 12 MP photo never
        # needs its full-resolution pixels for a 1600 px copy.
        image.draft(None, fit(image.size, FULL_EDGE))
    return image, width, height


def _shrink(image: Image.Image) -> Image.Image:
    """A big decode box-reduced to at most twice the served edge, a band of rows at a time.

    What resize(reducing_gap=2) would do first anyway, but before any
    full-size copy is made (transposing, flattening, colour conversion), so
    the peak stays near one decoded image. Palette and 1-bit images are left
    as they are: averaging palette indices is meaningless, and they are small.
    """
    factor = max(image.size) // (2 * FULL_EDGE)
    if factor < 2 or image.mode in ("1", "P"):
        return image
    width, height = image.size
    rows = factor * max(1, _BAND_ROWS // factor)
    try:
        small = Image.new(image.mode, (-(-width // factor), -(-height // factor)))
        for top in range(0, height, rows):
            small.paste(image.crop((0, top, width, min(height, top + rows))).reduce(factor), (0, top // factor))
    except ValueError:  # a mode reduce() does not take: convert as it is
        return image
    small.info = dict(image.info)  # orientation (EXIF), colour profile, transparency
    return small


def _decode(image: Image.Image) -> Image.Image:
    """Pixels decoded, shrunk when big, turned upright."""
    image.load()
    image = _shrink(image)
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a bad orientation tag keeps the pixels as stored
        return image


def process(data: bytes, content_type: str, max_pixels: int) -> ProcessedPhoto:
    """Decode `data` strictly as its declared type and make the served copies; BadImage otherwise."""
    fmt = FORMATS[content_type]
    try:
        opened, width, height = _open(data, fmt, max_pixels)
        cost, budget = decode_cost(opened, width * height), decode_budget()
        if cost > budget.total:
            raise BadImage(f"decoding {width}x{height} {opened.format} needs about {cost >> 20} MiB, more than "
                           f"the {budget.total >> 20} MiB this server allows")
        with budget.hold(cost):
            # Inside the budget: reading a PNG's EXIF decodes the pixels (its eXIf chunk may follow them).
            orientation, captured = _read_exif(opened)
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            rgb = _to_srgb(_decode(opened))
            del opened  # the full decode, when _shrink made a smaller copy
            full = rgb.resize(fit(rgb.size, FULL_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0) \
                if max(rgb.size) > FULL_EDGE else rgb
            thumb = full.resize(fit(full.size, THUMB_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0)
            return ProcessedPhoto(
                full=_encode(full, FULL_QUALITY), thumb=_encode(thumb, THUMB_QUALITY),
                width=width, height=height, phash=dhash(thumb), captured_at=captured,
            )
    except BadImage:
        raise
    except Exception as exc:  # noqa: BLE001 - DecompressionBombWarning is raised as an error too
        # Untrusted bytes can fail inside any decoder in many ways (OSError,
        # SyntaxError, struct.error, ValueError, MemoryError...); each is a 422.
        log.info("photo rejected: %s: %s", type(exc).__name__, exc)
        raise BadImage(f"{type(exc).__name__}: {exc}") from exc
