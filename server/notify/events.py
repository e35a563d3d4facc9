"""What happened that someone must learn of: the domain code calls these after its change commits.

Each hook stores inbox rows (and WeCom messages) and wakes this process's
sender; it never sends anything itself, so a request handler is never held up
by a push service. Calling a hook twice for the same event changes nothing.
Who gets what is in rules.py.
"""

from __future__ import annotations

from typing import Any

from server.notify import rules


async def finding_reported(finding: Any, rectification: Any) -> None:
    """A finding opened a rectification (emergency: supervisors at once; normal: the digest)."""
    if rules.field(rectification, "severity") == "emergency":
        await rules.emergency_finding(finding, rectification)
    else:
        await rules.digest_finding(finding, rectification)


async def findings_reported(pairs: list[tuple[Any, Any]], sites: dict[Any, Any] | None = None) -> None:
    """Many findings at once, as (finding, rectification) pairs: what `finding_reported` does for each.

    `sites` may hold the sites' rows when the caller has read them already.
    """
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
