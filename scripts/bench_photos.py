"""Photo ingest benchmark (not part of the test run): prints figures, asserts nothing.

For a 12-megapixel phone JPEG and a 1600 px JPEG it measures, in one run:
  - Pillow's bare decode of the file (Image.open + load, full resolution),
  - processing alone (decode with draft, orient, strip, resize, re-encode, dHash),
  - the whole ingest of the upload service (hash check, processing in a worker
    thread, atomic writes with fsync, the Photo row and its bookkeeping),
and the ratio of each to the bare decode.

    uv run python scripts/bench_photos.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = tempfile.mkdtemp(prefix="xunjian-bench-photos-")
os.environ["XUNJIAN_DATA_DIR"] = DATA_DIR
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageFilter  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from bench_support import Figure, emit  # noqa: E402


def phone_photo(width: int, height: int, seed: int) -> bytes:
    """A photo-like JPEG: soft shapes, grain and camera EXIF (orientation, GPS, capture time), quality 92."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 30, width // 6)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + r, y + r))
    image = image.filter(ImageFilter.GaussianBlur(3))
    grain = Image.effect_noise((width, height), 12).convert("RGB")
    image = Image.blend(image, grain, 0.15)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update({1: "N", 2: (31.0, 14.0, 5.5), 3: "E", 4: (121.0, 28.0, 1.25)})
    exif.get_ifd(0x8769).update({0x9003: "2026:05:01 10:20:30", 0x9011: "+08:00"})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def variant(jpeg: bytes, n: int) -> bytes:
    """The same picture with a different JPEG comment: new bytes (a new SHA-256) without re-encoding."""
    payload = f"bench {n}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def timed(fn: Callable[[], Any], rounds: int) -> float:
    """Median seconds of `rounds` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bare_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()


async def main(rounds: int, as_json: bool = False) -> None:
    from server.migrate import migrate
    from server.photos import processing, services
    from server.settings import get_settings
    from server.staff.services import create_staff

    await migrate()
    uploader = await create_staff("bench-photos", "bench", "guard", "bench-password-1")
    max_pixels = get_settings().photo_max_pixels
    samples = {"12 MP phone JPEG (4000x3000)": phone_photo(4000, 3000, 1),
               "1600 px JPEG (1600x1200)": phone_photo(1600, 1200, 2)}
    counter = iter(range(10**9))
    figures = []
    out = sys.stderr if as_json else sys.stdout  # with --json, stdout carries only the result lines
    print(f"Photo ingest, median of {rounds} rounds (data in {DATA_DIR}; Pillow {Image.__version__})", file=out)
    header = f"{'file':<30} {'bytes':>10} {'bare decode':>12} {'process':>10} {'ratio':>6} {'ingest':>10} {'ratio':>6} {'photos/s':>9}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, data in samples.items():
        decode_s = timed(lambda: bare_decode(data), rounds)
        process_s = timed(lambda: processing.process(data, "image/jpeg", max_pixels), rounds)
        ingest_samples = []
        for _ in range(rounds + 1):
            upload = variant(data, next(counter))
            digest = hashlib.sha256(upload).hexdigest()

            async def body(payload: bytes = upload) -> Any:
                yield payload

            start = time.perf_counter()
            created = await services.receive_photo(uploader, digest, "image/jpeg", len(upload), body())
            ingest_samples.append(time.perf_counter() - start)
            assert created
        ingest_s = statistics.median(ingest_samples[1:])
        print(f"{name:<30} {len(data):>10,} {decode_s * 1000:>9.1f} ms {process_s * 1000:>7.1f} ms "
              f"{process_s / decode_s:>5.2f}x {ingest_s * 1000:>7.1f} ms {ingest_s / decode_s:>5.2f}x "
              f"{1 / ingest_s:>9.1f}", file=out)
        figures.append(Figure(
            "photos", "SQLite", f"ingest {name}, {len(data) / 1e6:.1f} MB",
            f"{1 / ingest_s:.1f} photos/s ({ingest_s * 1000:.0f} ms); bare decode {1 / decode_s:.1f}/s "
            f"({decode_s * 1000:.0f} ms); ratio {ingest_s / decode_s:.2f}x",
            raw={"bytes": len(data), "decode_s": decode_s, "process_s": process_s, "ingest_s": ingest_s}))
    print("ratio = time / bare decode; 'process' uses draft() so a 12 MP JPEG decodes at 1/2 scale.", file=out)
    if as_json:
        emit(figures, True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="result lines for scripts/bench.py")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.rounds, args.json))
    finally:
        import shutil

        shutil.rmtree(DATA_DIR, ignore_errors=True)
