"""What each kind of notification says (in the recipient's language) and how it travels.

TTL is how long the push service keeps a message for a phone that is offline:
an emergency is only worth showing while someone can still reach the spot in
time, a digest is worth showing tomorrow morning. Urgency tells the phone
whether to wake up for it (RFC 8030, section 5.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from server import i18n, standard


@dataclass(frozen=True)
class Kind:
    ttl_seconds: int
    urgency: str  # very-low | low | normal | high


KINDS: dict[str, Kind] = {
    "emergency": Kind(ttl_seconds=30 * 60, urgency="high"),
    "missed_slot": Kind(ttl_seconds=2 * 3600, urgency="high"),
    "due_soon": Kind(ttl_seconds=3600, urgency="high"),
    "overdue": Kind(ttl_seconds=12 * 3600, urgency="high"),
    "assigned": Kind(ttl_seconds=24 * 3600, urgency="normal"),
    "reopened": Kind(ttl_seconds=24 * 3600, urgency="normal"),
    "digest": Kind(ttl_seconds=24 * 3600, urgency="low"),
}

TITLE_MAX = 120
BODY_MAX = 300


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters (push payloads must stay small)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def category_name(code: str, language: str) -> str:
    row = standard.category(code)
    if row is None:
        return code
    return i18n.pick(row["zh"], row["en"], language=language)


def local_time(at: datetime | None, timezone: str, with_date: bool = True) -> str:
    """A moment as the site's clock shows it (the person is on the site)."""
    if at is None:
        return ""
    local = at.astimezone(ZoneInfo(timezone or "Asia/Shanghai"))
    return local.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def join(parts: Iterable[str]) -> str:
    return " · ".join(p for p in parts if p)


def rect_text(kind: str, language: str, *, site: str, category: str, place: str, note: str,
              due: datetime | None, timezone: str, severity: str = "normal") -> tuple[str, str]:
    """Title and body of a notification about one rectification."""
    t = i18n.translate
    title = t(language, f"notify.{kind}.title", category=category_name(category, language))
    due_text = local_time(due, timezone)
    if due_text:
        key = "notify.body.arrive_by" if severity == "emergency" and kind == "emergency" else "notify.body.due"
        due_text = t(language, key, due=due_text)
    body = join([site, place, clip(note, 120), due_text])
    return clip(title, TITLE_MAX), clip(body, BODY_MAX)


def digest_text(language: str, *, site: str, counts: dict[str, int]) -> tuple[str, str]:
    """A digest of normal findings: how many (`counts`, per category), and of which categories, most frequent first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    parts = []
    for code, count in ordered:
        name = category_name(code, language)
        parts.append(f"{name} {i18n.translate(language, 'notify.body.times', count=count)}" if count > 1 else name)
    title = i18n.translate(language, "notify.digest.title", site=site, count=sum(counts.values()))
    return clip(title, TITLE_MAX), clip("、".join(parts) if language == "zh-CN" else ", ".join(parts), BODY_MAX)


def slot_text(language: str, *, site: str, round_name: str, start: datetime, end: datetime,
              timezone: str) -> tuple[str, str]:
    title = i18n.translate(language, "notify.missed_slot.title", round=round_name)
    window = i18n.translate(language, "notify.body.window", start=local_time(start, timezone),
                            end=local_time(end, timezone, with_date=False))
    return clip(title, TITLE_MAX), clip(join([site, window]), BODY_MAX)


def payload(notification: Any) -> dict[str, Any]:
    """What the service worker receives: small, and enough to show and open the notification."""
    return {
        "id": str(notification.id), "kind": notification.kind, "title": notification.title,
        "body": notification.body, "url": notification.url, "tag": notification.event_key[:64],
    }
