"""Telling supervisors of a push's findings, inside the push's own transaction.

The notification rows (an emergency to each supervisor, the site's digest) are
written with the findings and committed with them: a process that dies right
after the commit has lost no emergency, and a push of fifty findings reads its
site and supervisors once (server.notify.rules.findings_reported), without a
second write transaction. If writing them fails, that is rolled back alone and
the findings' hooks run after the commit instead, as other hooks do: a
notification never fails a push.
"""

from __future__ import annotations

import logging
from typing import Any

from server.notify import events
from sync.perop import Event

log = logging.getLogger("xunjian.sync")


def _hook(finding: dict[str, Any], rect: dict[str, Any]) -> Event:
    return lambda: events.finding_reported(finding, rect)


async def announce_findings(tx: Any, pairs: list[tuple[dict[str, Any], dict[str, Any]]],
                            after_commit: list[Event], sites: dict[Any, Any] | None = None) -> bool:
    """Store the notifications of these (finding, rectification) rows; True when there were any.

    `sites` may hold the site rows the push has read already.
    """
    if not pairs:
        return False
    savepoint = await tx.savepoint()
    try:
        await events.findings_reported(pairs, sites)
    except Exception:  # noqa: BLE001 - a notification must never fail the write it reports
        log.exception("notifying %d findings in the push failed; trying again after the commit", len(pairs))
        await savepoint.rollback_to()
        after_commit.extend(_hook(finding, rect) for finding, rect in pairs)
        return False
    await savepoint.release()
    return True
