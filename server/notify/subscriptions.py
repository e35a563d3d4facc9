"""Web Push subscriptions: several devices per person; the same endpoint is stored once."""

from __future__ import annotations

from typing import Any

from server.db import write_transaction
from server.notify.tables import PushSubscription


async def subscribe(staff_id: Any, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store (or move to this person, with fresh keys) the subscription of one browser."""
    async with write_transaction():
        existing = await PushSubscription.objects().where(PushSubscription.endpoint == endpoint).first()
        if existing is not None:
            existing.staff, existing.p256dh, existing.auth, existing.failures = staff_id, p256dh, auth, 0
            await existing.save()
            return existing
        sub = PushSubscription(staff=staff_id, endpoint=endpoint, p256dh=p256dh, auth=auth)
        await sub.save()
        return sub


async def unsubscribe(staff_id: Any, endpoint: str) -> int:
    rows = await PushSubscription.delete().where(
        (PushSubscription.staff == staff_id) & (PushSubscription.endpoint == endpoint)
    ).returning(PushSubscription.id)
    return len(rows)
