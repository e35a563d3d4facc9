"""Calendar periods of scheduled rounds ("daily", "every 2 weeks", "monthly"...) in a site's local dates.

A period belongs to the report month its last day falls in, so every period is
counted in exactly one month (a week running from 28 April to 4 May is May's).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterator

from server.rounds.schedule import period_of

SCHEDULED = ("day", "week", "month", "quarter", "year")


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
