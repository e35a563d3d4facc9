"""The handlers notify subscribes to the domains' events (server/events.py).

Each stores inbox rows (and WeCom messages) and wakes this process's sender; it
never sends anything itself, so a request handler is never held up by a push
service. Handling the same event twice changes nothing. Who gets what is in rules.py.
"""

from __future__ import annotations

from typing import Any

from server import events
from server.notify import rules


async def finding_reported(finding: Any, rectification: Any) -> None:
    """A finding opened a rectification (emergency: supervisors at once; normal: the digest)."""
    await rules.findings_reported([(finding, rectification)])


async def findings_reported(pairs: list[tuple[Any, Any]], sites: dict[Any, Any] | None = None) -> None:
    """Many findings at once, as (finding, rectification) pairs: what `finding_reported` does for each."""
    await rules.findings_reported(pairs, sites)


async def rectification_assigned(rectification: Any) -> None:
    """A rectification got (or changed) its assignee: the assignee hears of it."""
    await rules.to_assignee(rectification, "assigned", "assign")


async def rectification_reopened(rectification: Any) -> None:
    """A supervisor reopened a fixed rectification: the assignee hears of it."""
    await rules.to_assignee(rectification, "reopened", "reopen")


async def slot_missed(slot: Any) -> None:
    """A patrol window passed with no finished round: the site's supervisors hear of it."""
    await rules.missed_slot(slot)


# The subscriptions look the hooks up by name when called, so a test may replace one.
async def _on_findings(event: events.FindingsReported) -> None:
    await findings_reported(event.pairs, event.sites or None)


async def _on_assigned(event: events.RectificationAssigned) -> None:
    await rectification_assigned(event.rectification)


async def _on_reopened(event: events.RectificationReopened) -> None:
    await rectification_reopened(event.rectification)


async def _on_missed(event: events.SlotMissed) -> None:
    await slot_missed(event.slot)


def install() -> None:
    """Subscribe notify's handlers to the domains' events (idempotent)."""
    events.subscribe(events.FindingsReported, _on_findings)
    events.subscribe(events.RectificationAssigned, _on_assigned)
    events.subscribe(events.RectificationReopened, _on_reopened)
    events.subscribe(events.SlotMissed, _on_missed)
