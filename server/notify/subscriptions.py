"""Web Push subscriptions: several devices per person; the same endpoint is stored once.

The field app re-sends its subscription on every open (browsers change them
silently), through the `push.subscribe` sync op or the console endpoint; both
land in `subscribe`, which is idempotent.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
from typing import Any
from urllib.parse import urlparse

from server.db import write_transaction
from server.errors import Invalid
from server.notify.tables import PushSubscription
from server.settings import get_settings

MAX_ENDPOINT = 2000
MAX_FAILURES = 20  # consecutive failed sends before a device is given up on


def _b64url(value: str) -> bytes:
    text = value.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _internal_host(host: str) -> bool:
    """A host name or address of the local machine or a private network (the server must not POST there).

    Only literal addresses and local names are recognised; a public name that
    resolves to a private address is not (that would need resolving at send time).
    """
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    try:
        # Numeric forms the resolver also accepts ("2130706433", "127.1", "0x7f.1" are 127.0.0.1).
        return not ipaddress.IPv4Address(socket.inet_aton(host)).is_global
    except OSError:
        return False


def check(endpoint: str, p256dh: str, auth: str) -> None:
    """A subscription the server can push to: an absolute URL and the browser's P-256 and auth keys.

    Push services are HTTPS; a plain-http endpoint is accepted only when the
    server itself runs on http (development), so nobody can point the server's
    pushes at an internal address of a production network over plain http.
    """
    bad = Invalid("推送订阅无效 / not a valid push subscription", code="bad_subscription")
    if not isinstance(endpoint, str) or not isinstance(p256dh, str) or not isinstance(auth, str):
        raise bad
    parsed = urlparse(endpoint)
    production = get_settings().public_url.startswith("https://")
    allowed = ("https",) if production else ("https", "http")
    if parsed.scheme not in allowed or not parsed.hostname or len(endpoint) > MAX_ENDPOINT:
        raise bad
    if production and _internal_host(parsed.hostname):
        raise bad  # a push service is on the internet, never on the server's own network
    try:
        key, secret = _b64url(p256dh), _b64url(auth)
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if len(key) != 65 or key[0] != 4 or len(secret) != 16:
        raise bad


async def subscribe(staff_id: Any, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store (or move to this person, with fresh keys) the subscription of one browser."""
    check(endpoint, p256dh, auth)
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
    """Forget one browser of this person (someone else's endpoint is left alone)."""
    async with write_transaction():
        rows = await PushSubscription.delete().where(
            (PushSubscription.staff == staff_id) & (PushSubscription.endpoint == endpoint)
        ).returning(PushSubscription.id)
    return len(rows)


async def devices_of(staff_id: Any) -> list[PushSubscription]:
    return await PushSubscription.objects().where(PushSubscription.staff == staff_id).order_by(
        PushSubscription.created_at)


async def record_failure(subscription_id: Any) -> None:
    """Count a failed send; a device that keeps failing is dropped (its app re-subscribes on open)."""
    async with write_transaction():
        rows = await PushSubscription.update({PushSubscription.failures: PushSubscription.failures + 1}).where(
            PushSubscription.id == subscription_id).returning(PushSubscription.failures)
        if rows and rows[0]["failures"] >= MAX_FAILURES:
            await PushSubscription.delete().where(PushSubscription.id == subscription_id)
