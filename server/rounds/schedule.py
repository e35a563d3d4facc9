"""Patrol windows and their status: the one rule behind "was this patrol done?".

Written once, here. The settling of finished rounds, the scheduler, the pull's
``due[]``, the console, the report, the CSV and the notifications call it; the
phone's offline copy (``web/static/app/schedule.js``) is pinned to it by the
table of cases in ``tests/cases/patrol_windows.json``, which pytest runs against
these functions and a Chromium test runs against the JavaScript ones.

The rule (shared/SYNC.md v1.1, ``due[]``):

- **Windows.** A scheduled template has windows (``slot_windows``): every N hours
  or N times inside its daily window, or one per week, month, quarter or year,
  in the site's local time.
- **No slot before it existed.** A window that ends at or before ``since`` (the
  later of the site's and the template's creation) is no slot at all: never
  pending, never missed.
- **Which window a round counts for.** A finished round belongs to every window
  whose start is at or before its corrected finish time and whose end plus the
  grace is at or after it (``start <= finished <= end + grace``). Its start time
  does not matter. It settles the earliest of those windows that is still open
  (``pending``, or ``missed`` by the scheduler before an offline round arrived).
  When none is open and the round visited every required checkpoint, it takes
  the earliest ``incomplete`` one instead: a full round redone in time replaces
  a partial one. One round settles one window.
- **The settled status.** ``incomplete`` when the round visited fewer of the
  template's checkpoints than it requires (it carries ``visited`` of
  ``required``), else ``done`` when it finished by the window's end, else
  ``late`` (finished within the grace).
- **Unsettled windows.** ``pending`` until the end plus the grace has passed,
  ``missed`` after: at exactly ``end + grace`` a round may still finish late,
  so the window is still pending.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from server.settings import get_settings

STATUSES = ("pending", "done", "late", "incomplete", "missed")
OPEN = ("pending", "missed")  # a window a finished round may still settle
DAILY_PERIODS = ("hours", "day")
LONG_PERIODS = ("week", "month", "quarter", "year")
SLOT_NAMESPACE = uuid.UUID("6f1d3c2a-9b7e-4c55-8a0e-5d1b2f3e4a77")
_EPOCH = date(1970, 1, 1)
_MONDAY = date(1970, 1, 5)


def grace() -> timedelta:
    """How long after a window's end a round still counts (late) and the window is not yet missed."""
    return timedelta(minutes=get_settings().slot_grace_minutes)


# ---- periods and windows -----------------------------------------------------


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def period_of(day: date, period: str, every: int = 1) -> tuple[date, date]:
    """The [start, end) local dates of the period of this kind ("day", "week", "month", "quarter", "year") holding `day`.

    Every N days count from 1970-01-01, every N weeks from Monday 1970-01-05, every N
    months from January of year 0, so a period's bounds never depend on when it was asked.
    """
    every = max(1, int(every or 1))
    if period == "day":
        start = _EPOCH + timedelta(days=(day - _EPOCH).days // every * every)
        return start, start + timedelta(days=every)
    if period == "week":
        start = _MONDAY + timedelta(days=(day - _MONDAY).days // (7 * every) * 7 * every)
        return start, start + timedelta(days=7 * every)
    months = {"month": 1, "quarter": 3, "year": 12}.get(period)
    if months is None:
        raise ValueError(f"not a calendar period: {period}")
    span = months * every
    index = (day.year * 12 + day.month - 1) // span * span
    return _month_start(index), _month_start(index + span)


def loaded(value: Any) -> Any:
    """A JSON column's value (Piccolo hands JSON back as text unless asked to load it)."""
    return json.loads(value) if isinstance(value, str) else value


def frequency_of(template: Any) -> dict[str, Any]:
    return loaded(template.frequency) or {}


def is_scheduled(template: Any) -> bool:
    """Whether the template has windows (slots): "continuous", "occurrence", "trigger" and "contract" have none."""
    return frequency_of(template).get("period") in DAILY_PERIODS + LONG_PERIODS


def is_patrol(template: Any) -> bool:
    """Templates scheduled every N hours: their windows are what patrol coverage counts."""
    return frequency_of(template).get("period") == "hours"


def _clock(value: str) -> timedelta:
    hours, minutes = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _local(day: date, offset: timedelta, zone: ZoneInfo) -> datetime:
    # Wall-clock arithmetic in the site's zone ("24:00" is the next midnight).
    naive = datetime.combine(day, time()) + offset
    return naive.replace(tzinfo=zone).astimezone(timezone.utc)


def slot_windows(template: Any, day: date, tz: str) -> list[tuple[datetime, datetime]]:
    """The windows of a template for a local day: daily windows starting that day, or the long period holding it."""
    frequency = frequency_of(template)
    period = frequency.get("period")
    zone = ZoneInfo(tz)
    if period in LONG_PERIODS:
        start, end = period_of(day, period, frequency.get("every", 1))
        return [(_local(start, timedelta(), zone), _local(end, timedelta(), zone))]
    if period not in DAILY_PERIODS:
        return []
    begin, finish = _clock(template.window_start or "00:00"), _clock(template.window_end or "24:00")
    if finish <= begin:
        finish += timedelta(days=1)  # a night window such as 22:00-06:00
    if period == "hours":
        step = timedelta(hours=max(1, int(frequency.get("every", 1))))
    else:
        step = (finish - begin) / max(1, int(frequency.get("times", 1)))
    windows = []
    cursor = begin
    while cursor + step <= finish + timedelta(seconds=1):
        windows.append((_local(day, cursor, zone), _local(day, min(cursor + step, finish), zone)))
        cursor += step
    return windows


def slot_id(template_id: Any, window_start: datetime) -> uuid.UUID:
    """The deterministic id of a template's slot starting at `window_start` (two processes make one row)."""
    stamp = window_start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return uuid.uuid5(SLOT_NAMESPACE, f"{template_id}/{stamp}")


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def since_of(site: Any, template: Any) -> datetime | None:
    """From when a template's windows are slots: the later of the site's and the template's creation."""
    moments = [m for m in (getattr(site, "created_at", None), getattr(template, "created_at", None)) if m is not None]
    return max(moments) if moments else None


def exists(window_end: datetime, since: datetime | None) -> bool:
    """Whether a window is a slot at all: it ends after the site and template existed."""
    return since is None or window_end > since


# ---- the status of a window ------------------------------------------------


@dataclass
class Window:
    """One window as the rule sees it: its bounds and what has settled it so far."""

    start: datetime
    end: datetime
    status: str = "pending"
    round: Any = None
    visited: int | None = None
    required: int | None = None


@dataclass(frozen=True)
class Finished:
    """A finished round as the rule sees it: when it finished (corrected) and how many checkpoints it covered."""

    id: Any
    finished_at: datetime
    visited: int
    required: int

    @property
    def complete(self) -> bool:
        return self.visited >= self.required


def settled_status(window_end: datetime, finished_at: datetime, visited: int, required: int) -> str:
    """The status a finished round gives the window it settles."""
    if visited < required:
        return "incomplete"
    return "done" if finished_at <= window_end else "late"


def counts_for(window: Window, finished_at: datetime, grace: timedelta) -> bool:
    """Whether a round finished at `finished_at` may settle this window (by its finish time only)."""
    return window.start <= finished_at <= window.end + grace


def choose(windows: Sequence[Window], rnd: Finished, grace: timedelta) -> Window | None:
    """The window this round settles: the earliest open one it counts for, else (a complete round) the earliest incomplete."""
    ordered = sorted((w for w in windows if counts_for(w, rnd.finished_at, grace)), key=lambda w: w.start)
    for window in ordered:
        if window.status in OPEN:
            return window
    if rnd.complete:
        return next((w for w in ordered if w.status == "incomplete"), None)
    return None


def settle(windows: Sequence[Window], rounds: Iterable[Finished], grace: timedelta) -> list[tuple[Finished, Window]]:
    """Settle the windows of one template with these rounds, in the order given; returns (round, window) pairs."""
    settled = []
    for rnd in rounds:
        window = choose(windows, rnd, grace)
        if window is None:
            continue
        window.status = settled_status(window.end, rnd.finished_at, rnd.visited, rnd.required)
        window.round, window.visited, window.required = rnd.id, rnd.visited, rnd.required
        settled.append((rnd, window))
    return settled


def status_at(status: str, window_end: datetime, at: datetime, grace: timedelta) -> str:
    """A window's status as of `at`: a settled one keeps its status; an unsettled one is missed once end + grace has passed."""
    if status in OPEN:
        return "missed" if at > window_end + grace else "pending"
    return status


def current(windows: Sequence[Window], at: datetime, grace: timedelta) -> Window | None:
    """The window a full round finished now would count for, else the next one to open (for the start button)."""
    now_round = Finished(id=None, finished_at=at, visited=0, required=0)
    chosen = choose(windows, now_round, grace)
    if chosen is not None:
        return chosen
    upcoming = sorted((w for w in windows if w.start > at), key=lambda w: w.start)
    return upcoming[0] if upcoming else None
