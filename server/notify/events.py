"""What happened that someone must learn of: the domain code calls these after its change commits.

The notifications issue fills in who gets what (inbox rows, Web Push, WeCom);
until then each hook records nothing.
"""

from __future__ import annotations

from typing import Any


async def finding_reported(finding: Any, rectification: Any) -> None:
    """A finding opened a rectification (emergency: supervisors at once; normal: the digest)."""


async def rectification_assigned(rectification: Any) -> None:
    """A rectification got (or changed) its assignee."""


async def rectification_reopened(rectification: Any) -> None:
    """A supervisor reopened a fixed rectification."""


async def slot_missed(slot: Any) -> None:
    """A patrol window passed with no finished round."""
