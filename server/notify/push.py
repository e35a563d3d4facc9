"""Web Push delivery with pywebpush: claimed rows, one blocking send per device in a thread, retries.

A notification is claimed before it is sent (state "sending" with a lease), so
two processes, or a restart in the middle of a send, never push it twice; a
lease that outlives a crash expires and the row is taken again. Devices already
reached are remembered in `push_done`, so a retry only goes to the ones that failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlparse

import requests
from pywebpush import WebPushException, webpush

from server.db import write_transaction
from server.notify.inbox import json_value
from server.notify.messages import KINDS, payload
from server.notify.subscriptions import record_failure
from server.notify.tables import Notification, PushSubscription
from server.notify.vapid import server_key
from server.settings import get_settings
from server.staff.tables import Staff

log = logging.getLogger("xunjian.notify.push")

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
TIMEOUT_SECONDS = 10
CONCURRENCY = 8
GONE = (404, 410)  # the subscription expired or was unsubscribed: it never comes back
PERMANENT = (400, 401, 403, 413)  # this message can never be delivered to this device as it is


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Outcome:
    status: int | None  # the push service's HTTP status; None when it could not be reached
    retry_after: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return not self.delivered and self.status not in GONE + PERMANENT


def _retry_after(value: str | None) -> int | None:
    try:
        return max(0, int(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the back-off decides instead


def send_one(subscription: PushSubscription, message: dict[str, Any], kind: str,
             session: requests.Session | None = None) -> Outcome:
    """The blocking pywebpush call for one device (run in a thread)."""
    spec = KINDS.get(kind, KINDS["digest"])
    # pywebpush writes `aud` (and `exp`) into the claims dict it is given: a dict
    # shared between calls would sign every later push for the first endpoint's origin.
    endpoint = urlparse(subscription.endpoint)
    claims = {"sub": get_settings().vapid_subject, "aud": f"{endpoint.scheme}://{endpoint.netloc}"}
    try:
        response = webpush(
            subscription_info={"endpoint": subscription.endpoint,
                               "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            data=json.dumps(message, ensure_ascii=False, separators=(",", ":")),
            vapid_private_key=server_key(), vapid_claims=claims, content_encoding="aes128gcm",
            ttl=spec.ttl_seconds, headers={"Urgency": spec.urgency}, timeout=TIMEOUT_SECONDS,
            requests_session=session,
        )
    except WebPushException as exc:
        response = exc.response
        if response is None:
            log.warning("push to %s failed: %s", endpoint.netloc, exc.message)
            return Outcome(status=None)
        return Outcome(status=response.status_code, retry_after=_retry_after(exc.retry_after))
    except requests.RequestException as exc:
        log.warning("push service %s unreachable: %s", endpoint.netloc, type(exc).__name__)
        return Outcome(status=None)
    return Outcome(status=response.status_code)


def backoff(attempts: int, retry_after: int | None = None) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour; a push service's Retry-After wins when longer."""
    delay = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=max(delay, min(retry_after or 0, 3600)))


async def _claim(at: datetime, limit: int) -> list[Notification]:
    due = await Notification.select(Notification.id).where(
        Notification.push_state.is_in(["pending", "sending"]) & (Notification.push_next_at <= at)
    ).order_by(Notification.push_next_at).limit(limit)
    claimed: list[Notification] = []
    for row in due:
        async with write_transaction():
            taken = await Notification.update({
                Notification.push_state: "sending",
                Notification.push_next_at: at + timedelta(seconds=CLAIM_SECONDS),
            }).where(
                (Notification.id == row["id"]) & Notification.push_state.is_in(["pending", "sending"])
                & (Notification.push_next_at <= at)
            ).returning(*Notification.all_columns())
        claimed.extend(Notification(**r) for r in taken)
    return claimed


async def _deliver(notification: Notification, at: datetime, session: requests.Session,
                   gate: asyncio.Semaphore) -> str:
    """Send one notification to every device of its person not reached yet; returns its new push state."""
    done = set(json_value(notification.push_done, []))
    if not await Staff.exists().where((Staff.id == notification.staff) & (Staff.active == True)):  # noqa: E712
        # Deactivated since it was stored: their phone is no longer theirs to wake.
        await _finish(notification, "skipped", notification.push_attempts, at, done)
        return "skipped"
    subscriptions = [s for s in await PushSubscription.objects().where(PushSubscription.staff == notification.staff)
                     if str(s.id) not in done]
    if not subscriptions and not done:
        await _finish(notification, "skipped", notification.push_attempts, at, done)
        return "skipped"
    message = payload(notification)

    async def one(sub: PushSubscription) -> tuple[PushSubscription, Outcome]:
        async with gate:
            return sub, await asyncio.to_thread(send_one, sub, message, notification.kind, session)

    results = await asyncio.gather(*(one(s) for s in subscriptions))
    retry_after = 0
    pending = False
    for sub, outcome in results:
        if outcome.delivered:
            done.add(str(sub.id))
        elif outcome.status in GONE:
            async with write_transaction():
                await PushSubscription.delete().where(PushSubscription.id == sub.id)
        else:
            await record_failure(sub.id)
            if outcome.retryable:
                pending = True
                retry_after = max(retry_after, outcome.retry_after or 0)
    if successes := [s for s, o in results if o.delivered]:
        async with write_transaction():
            await PushSubscription.update({PushSubscription.failures: 0}).where(
                PushSubscription.id.is_in([s.id for s in successes]))
    attempts = notification.push_attempts + 1
    expired = at >= notification.created_at + timedelta(seconds=KINDS.get(notification.kind, KINDS["digest"]).ttl_seconds)
    if pending and attempts < MAX_ATTEMPTS and not expired:
        await _finish(notification, "pending", attempts, at + backoff(attempts, retry_after), done)
        return "pending"
    state = "sent" if done else "failed"
    await _finish(notification, state, attempts, at, done)
    return state


async def _finish(notification: Notification, state: str, attempts: int, next_at: datetime, done: set[str]) -> None:
    # Push bookkeeping is not part of what a phone pulls: the row's seq stays as it is.
    async with write_transaction():
        await Notification.update({
            Notification.push_state: state, Notification.push_attempts: attempts,
            Notification.push_next_at: next_at, Notification.push_done: sorted(done),
        }).where(Notification.id == notification.id)


async def send_pending(at: datetime | None = None, limit: int = 100, max_batches: int = 50) -> dict[str, int]:
    """Push every due notification, a batch of `limit` at a time; returns how many ended sent,
    pending (retry), failed and skipped.

    It drains the queue rather than taking one batch: after a burst (a busy morning, a
    restart) the oldest hundred must not hold back an emergency behind them. A handled
    row is never due again at the same `at`, so the loop ends.
    """
    at = at or now()
    counts = {"sent": 0, "pending": 0, "failed": 0, "skipped": 0}
    for _ in range(max_batches):
        batch = await _send_batch(at, limit)
        for state, n in batch.items():
            counts[state] += n
        if sum(batch.values()) < limit:
            break
    return counts


async def _send_batch(at: datetime, limit: int) -> dict[str, int]:
    counts = {"sent": 0, "pending": 0, "failed": 0, "skipped": 0}
    claimed = await _claim(at, limit)
    if not claimed:
        return counts
    gate = asyncio.Semaphore(CONCURRENCY)

    async def guarded(notification: Notification) -> str | None:
        try:
            return await _deliver(notification, at, session, gate)
        except Exception:  # noqa: BLE001 - one bad row must not stop the others; its claim expires
            log.exception("push of notification %s failed", notification.id)
            return None

    with requests.Session() as session:
        for state in await asyncio.gather(*(guarded(n) for n in claimed)):
            if state is not None:
                counts[state] += 1
    return counts
