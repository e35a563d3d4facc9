"""A small server-drawn SVG bar chart of a month's patrol coverage by day (no JS, prints as is)."""

from __future__ import annotations

from html import escape

from server.reports.compliance import DayCoverage

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 24


def coverage_svg(days: list[DayCoverage], target: float | None, title: str) -> str:
    """Bars of on-time coverage per day (green at target, amber below, red under half), the target as a line."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days))
    bar_w = max(2.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="coverage-chart">',
        f"<title>{escape(title)}</title>",
        "<style>.grid{stroke:#ddd;stroke-width:1}.axis{font:11px sans-serif;fill:#555}"
        ".bar.ok{fill:#1e7d32}.bar.warn{fill:#b26a00}.bar.bad{fill:#b3261e}.bar.none{fill:#bbb}"
        ".target{stroke:#0b6e4f;stroke-width:1.5;stroke-dasharray:4 3}</style>",
    ]
    for pct in (0, 50, 100):
        y = TOP + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{pct}%</text>')
    for i, day in enumerate(days):
        x = LEFT + i * step + (step - bar_w) / 2
        rate = day.rate
        label = f"{day.day.isoformat()}: " + (f"{rate:g}% ({day.covered}/{day.required})" if rate is not None else "—")
        if rate is None:
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - 2:.1f}" width="{bar_w:.1f}" height="2" '
                         f'class="bar none" data-day="{day.day.isoformat()}"><title>{escape(label)}</title></rect>')
        else:
            h = plot_h * rate / 100
            css = "ok" if target is not None and rate >= target else ("warn" if rate >= 50 else "bad")
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'class="bar {css}" data-day="{day.day.isoformat()}" data-rate="{rate:g}">'
                         f"<title>{escape(label)}</title></rect>")
        if day.day.day == 1 or day.day.day % 5 == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" class="axis">'
                         f"{day.day.day}</text>")
    if target is not None:
        y = TOP + plot_h * (1 - target / 100)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="target"/>')
    parts.append("</svg>")
    return "".join(parts)
