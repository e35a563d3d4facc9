"""Web Push as a push service sees it: encrypted payload, TTL and Urgency, a VAPID token it can verify,
gone subscriptions deleted, failures retried with back-off (a loopback server plays the push service)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from conftest import run
from notify_loopback import Loopback, Subscriber, b64url, vapid_claims
from server.notify import push, rules, subscriptions
from server.notify.tables import Notification, PushSubscription
from server.notify.vapid import public_key
from server.rectifications.services import report_finding
from server.settings import get_settings


@pytest.fixture
def push_service() -> Iterator[Loopback]:
    service = Loopback()
    yield service
    service.close()


def device(service: Loopback, staff: Any, name: str) -> Subscriber:
    phone = Subscriber(service.url(f"/push/{name}"))
    run(subscriptions.subscribe(staff.id, phone.endpoint, phone.p256dh, b64url(phone.auth)))
    return phone


def report(site: dict[str, Any], severity: str, category: str = "fire_safety", note: str = "") -> uuid.UUID:
    finding_id = uuid.uuid4()
    run(report_finding(site["users"]["guard"], finding_id, site["site"].id, category, severity, note=note))
    return finding_id


def notification(staff: Any, event_key: str) -> Notification:
    return run(Notification.objects().where(
        (Notification.staff == staff.id) & (Notification.event_key == event_key)).first())


def test_emergency_push_is_encrypted_small_short_lived_and_vapid_signed(make_site, push_service):
    site = make_site()
    supervisor = site["users"]["supervisor"]
    phone = device(push_service, supervisor, f"sup-{site['tag']}")
    rect_id = report(site, "emergency", note="B1 消防通道被杂物堵塞")

    run(push.send_pending())

    [request] = push_service.requests_to(f"/push/sup-{site['tag']}")
    message = phone.decrypt(request)
    assert message["kind"] == "emergency"
    assert "消防通道/器材" in message["title"]
    assert site["site"].name in message["body"] and "杂物堵塞" in message["body"]
    assert message["url"] == f"/console/sites/{site['site'].id}/rectifications/{rect_id}"
    assert len(request.body) < 4096
    assert request.headers["ttl"] == "1800"
    assert request.headers["urgency"] == "high"
    claims = vapid_claims(request.headers["authorization"], public_key())
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == get_settings().vapid_subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert notification(supervisor, f"emergency:{rect_id}").push_state == "sent"


def test_a_digest_lives_longer_and_is_less_urgent_than_an_emergency(make_site, push_service):
    site = make_site()
    phone = device(push_service, site["users"]["supervisor"], f"digest-{site['tag']}")
    report(site, "normal", category="garbage")
    report(site, "normal", category="garbage")

    run(push.send_pending())
    assert push_service.requests_to(f"/push/digest-{site['tag']}") == []  # still collecting
    later = datetime.now(timezone.utc) + timedelta(minutes=rules.DIGEST_MINUTES + 1)
    run(rules.release_digests(later))
    run(push.send_pending(later))

    [request] = push_service.requests_to(f"/push/digest-{site['tag']}")
    message = phone.decrypt(request)
    assert message["kind"] == "digest"
    assert message["title"] == f"{site['site'].name}: 2 项新问题"
    assert int(request.headers["ttl"]) > 1800
    assert request.headers["urgency"] == "low"


def test_each_device_gets_its_own_audience(make_site):
    site = make_site()
    supervisor = site["users"]["supervisor"]
    first, second = Loopback(), Loopback()
    try:
        phone = device(first, supervisor, "phone")
        desktop = device(second, supervisor, "desktop")
        report(site, "emergency")
        run(push.send_pending())
        [to_phone] = first.requests_to("/push/phone")
        [to_desktop] = second.requests_to("/push/desktop")
        assert vapid_claims(to_phone.headers["authorization"], public_key())["aud"] == first.origin
        assert vapid_claims(to_desktop.headers["authorization"], public_key())["aud"] == second.origin
        assert phone.decrypt(to_phone) == desktop.decrypt(to_desktop)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted(make_site, push_service, status):
    site = make_site()
    supervisor = site["users"]["supervisor"]
    gone = device(push_service, supervisor, f"gone-{status}-{site['tag']}")
    kept = device(push_service, supervisor, f"kept-{status}-{site['tag']}")
    push_service.script(f"/push/gone-{status}-{site['tag']}", status)
    rect_id = report(site, "emergency")

    run(push.send_pending())

    endpoints = {s.endpoint for s in run(subscriptions.devices_of(supervisor.id))}
    assert gone.endpoint not in endpoints
    assert kept.endpoint in endpoints
    assert notification(supervisor, f"emergency:{rect_id}").push_state == "sent"
    # The next notification goes to the remaining device only.
    report(site, "emergency")
    run(push.send_pending())
    assert len(push_service.requests_to(f"/push/gone-{status}-{site['tag']}")) == 1
    assert len(push_service.requests_to(f"/push/kept-{status}-{site['tag']}")) == 2


def test_a_server_error_is_retried_with_back_off_and_only_to_the_device_that_failed(make_site, push_service):
    site = make_site()
    supervisor = site["users"]["supervisor"]
    flaky = device(push_service, supervisor, f"flaky-{site['tag']}")
    device(push_service, supervisor, f"fine-{site['tag']}")
    push_service.script(f"/push/flaky-{site['tag']}", 500, 201)
    rect_id = report(site, "emergency")

    run(push.send_pending())
    row = notification(supervisor, f"emergency:{rect_id}")
    assert row.push_state == "pending" and row.push_attempts == 1
    assert row.push_next_at > datetime.now(timezone.utc)

    run(push.send_pending())  # too early: the back-off holds it
    assert len(push_service.requests_to(f"/push/flaky-{site['tag']}")) == 1

    run(push.send_pending(datetime.now(timezone.utc) + push.backoff(1) + timedelta(seconds=1)))
    retried = push_service.requests_to(f"/push/flaky-{site['tag']}")
    assert len(retried) == 2
    assert flaky.decrypt(retried[1])["url"] == f"/console/sites/{site['site'].id}/rectifications/{rect_id}"
    assert len(push_service.requests_to(f"/push/fine-{site['tag']}")) == 1
    assert notification(supervisor, f"emergency:{rect_id}").push_state == "sent"
    assert run(PushSubscription.exists().where(PushSubscription.endpoint == flaky.endpoint))


def test_a_push_service_that_is_down_is_retried_then_given_up(make_site, push_service):
    site = make_site()
    supervisor = site["users"]["supervisor"]
    device(push_service, supervisor, f"down-{site['tag']}")
    push_service.script(f"/push/down-{site['tag']}", *([503] * push.MAX_ATTEMPTS))
    rect_id = report(site, "normal", category="road")
    later = datetime.now(timezone.utc) + timedelta(minutes=rules.DIGEST_MINUTES + 1)
    run(rules.release_digests(later))

    at = later
    for _ in range(push.MAX_ATTEMPTS):
        run(push.send_pending(at))
        at += timedelta(hours=1, seconds=1)
    row = notification(supervisor, f"digest:{site['site'].id}:{rect_id}")
    assert row.push_state == "failed"
    assert row.push_attempts == push.MAX_ATTEMPTS
    assert len(push_service.requests_to(f"/push/down-{site['tag']}")) == push.MAX_ATTEMPTS
    # Failing to push never loses the notification: it stays in the inbox.
    assert row.title.startswith(site["site"].name)


def test_a_person_without_a_device_still_has_the_notification(make_site, push_service):
    site = make_site()
    rect_id = report(site, "emergency")
    run(push.send_pending())
    row = notification(site["users"]["admin"], f"emergency:{rect_id}")
    assert row.push_state == "skipped"
    assert row.read_at is None


def test_nobody_deactivated_is_woken(make_site, push_service):
    from server.staff.services import set_active

    site = make_site(roles=("guard", "supervisor"))
    supervisor = site["users"]["supervisor"]
    device(push_service, supervisor, f"left-{site['tag']}")
    rect_id = report(site, "emergency")
    run(set_active(supervisor.id, False))
    run(push.send_pending())
    assert push_service.requests_to(f"/push/left-{site['tag']}") == []
    assert notification(supervisor, f"emergency:{rect_id}").push_state == "skipped"
