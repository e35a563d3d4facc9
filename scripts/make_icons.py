"""Draw the field app's icons (192, 512 and a maskable 512) with Pillow.

Run once after changing the design: `uv run python scripts/make_icons.py`; the
PNGs are committed. The mark is geometric (a check inside a location ring) so
no CJK font is needed to draw it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "web" / "static" / "icons"
BRAND = (11, 110, 79)
WHITE = (255, 255, 255)
SCALE = 4  # draw large, then downsample for smooth edges


def draw(size: int, maskable: bool) -> Image.Image:
    big = size * SCALE
    img = Image.new("RGB", (big, big), BRAND) if maskable else Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if not maskable:
        d.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=BRAND)
    # Maskable icons keep their mark inside the central 80 % safe zone.
    inner = big * (0.56 if maskable else 0.72)
    cx = cy = big / 2
    r = inner / 2
    width = max(SCALE, int(big * 0.06))
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=WHITE, width=width)
    check = [(cx - r * 0.48, cy + r * 0.02), (cx - r * 0.12, cy + r * 0.38), (cx + r * 0.52, cy - r * 0.34)]
    d.line(check, fill=WHITE, width=int(width * 1.3), joint="curve")
    img = img.resize((size, size), Image.LANCZOS)
    # A small palette keeps the files a few KB (they count in the first load).
    return img.convert("RGBA").quantize(colors=32, method=Image.Quantize.FASTOCTREE)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)):
        path = OUT / name
        draw(size, maskable).save(path, optimize=True)
        print(f"{path.relative_to(OUT.parent.parent.parent)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
