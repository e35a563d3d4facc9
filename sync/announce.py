"""Telling supervisors of a push's findings, inside the push's own transaction.

The findings are published (server.events.FindingsReported) inside the push's
transaction, so their notification rows (an emergency to each supervisor, the
site's digest) are committed with them: a process that dies right after the
commit has lost no emergency, and a push of fifty findings reads its site and
supervisors once. If handling them fails, that is rolled back alone and the
event is published again after the commit instead, as other events are: a
notification never fails a push.
"""

from __future__ import annotations

import logging
from typing import Any

from server import events

log = logging.getLogger("xunjian.sync")


async def announce_findings(tx: Any, pairs: list[tuple[dict[str, Any], dict[str, Any]]],
                            after_commit: list[Any], sites: dict[Any, Any] | None = None) -> bool:
    """Deliver the event of these (finding, rectification) rows now; True when there were any.

    `sites` may hold the site rows the push has read already.
    """
    if not pairs:
        return False
    event = events.FindingsReported(pairs, dict(sites or {}))
    savepoint = await tx.savepoint()
    try:
        await events.deliver(event)
    except Exception:  # noqa: BLE001 - a notification must never fail the write it reports
        log.exception("notifying %d findings in the push failed; trying again after the commit", len(pairs))
        await savepoint.rollback_to()
        after_commit.append(event)
        return False
    await savepoint.release()
    return True
