"""Calendar periods of scheduled rounds ("daily", "every 2 weeks", "monthly"...) in a site's local dates.

A period belongs to the report month its last day falls in, so every period is
counted in exactly one month (a week running from 28 April to 4 May is May's).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterator

SCHEDULED = ("day", "week", "month", "quarter", "year")
_ANCHOR_MONDAY = date(1970, 1, 5)


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def period_of(day: date, period: str, every: int = 1) -> tuple[date, date]:
    """The [start, end) dates of the period of this kind holding `day`."""
    every = max(1, int(every or 1))
    if period == "day":
        n = (day - date(1970, 1, 1)).days // every
        start = date(1970, 1, 1) + timedelta(days=n * every)
        return start, start + timedelta(days=every)
    if period == "week":
        n = (day - _ANCHOR_MONDAY).days // (7 * every)
        start = _ANCHOR_MONDAY + timedelta(days=n * 7 * every)
        return start, start + timedelta(days=7 * every)
    months = {"month": 1, "quarter": 3, "year": 12}.get(period)
    if months is None:
        raise ValueError(f"not a scheduled period: {period}")
    span = months * every
    n = _month_index(day) // span
    return _month_start(n * span), _month_start((n + 1) * span)


def periods_ending_in(year: int, month: int, period: str, every: int = 1) -> Iterator[tuple[date, date]]:
    """Every period whose last day is in this month, in order."""
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    seen = set()
    day = first
    while day < following:
        start, end = period_of(day, period, every)
        last = end - timedelta(days=1)
        if first <= last < following and start not in seen:
            seen.add(start)
            yield start, end
        day += timedelta(days=1)
