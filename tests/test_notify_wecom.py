"""The WeCom (企业微信) group robot: a loopback server plays the webhook; its failures are retried,
never logged with the key, and never hold up Web Push."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from conftest import run
from notify_loopback import Loopback, Subscriber, b64url
from server.notify import subscriptions, wecom
from server.notify.tables import Notification, OutboundMessage
from server.rectifications.services import report_finding
from server.scheduler import run_once
from server.sites.tables import Site

HOOK = "/cgi-bin/webhook/send"
KEY = "5f2c9a1e-robot-key-7d3b-SECRET"
OK = (200, b'{"errcode":0,"errmsg":"ok"}')


@pytest.fixture
def robot() -> Iterator[Loopback]:
    service = Loopback(default_status=200, default_body=OK[1])
    yield service
    service.close()


def with_robot(site: dict[str, Any], robot: Loopback) -> None:
    run(Site.update({Site.wecom_webhook: robot.url(f"{HOOK}?key={KEY}")}).where(Site.id == site["site"].id))


def emergency(site: dict[str, Any], note: str = "") -> uuid.UUID:
    finding_id = uuid.uuid4()
    checkpoint = site["checkpoints"][0]["checkpoint"]
    run(report_finding(site["users"]["guard"], finding_id, site["site"].id, "fire_safety", "emergency",
                       checkpoint_id=checkpoint.id, note=note))
    return finding_id


def message_of(rect_id: uuid.UUID) -> OutboundMessage:
    return run(OutboundMessage.objects().where(OutboundMessage.event_key == f"emergency:{rect_id}").first())


def test_an_emergency_is_posted_as_markdown_with_a_link(make_site, robot):
    site = make_site(roles=("guard", "supervisor"))
    with_robot(site, robot)
    rect_id = emergency(site, note="B1 消防通道被电动车堵住")

    run(wecom.send_pending())

    [request] = robot.requests_to(HOOK)
    assert request.path.endswith(f"?key={KEY}")
    body = json.loads(request.body)
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith('### <font color="warning">紧急问题 · 消防通道/器材</font>')
    assert f"> 小区: {site['site'].name}" in content
    assert f"> 位置: {site['checkpoints'][0]['checkpoint'].name}" in content
    assert "> 说明: B1 消防通道被电动车堵住" in content
    link = f"http://testserver.local/console/sites/{site['site'].id}/rectifications/{rect_id}"
    assert content.endswith(f"[查看详情]({link})")
    assert message_of(rect_id).state == "sent"
    run(wecom.send_pending())
    assert len(robot.requests_to(HOOK)) == 1


def test_a_note_cannot_smuggle_a_link_or_a_heading_into_the_group(make_site, robot):
    site = make_site(roles=("guard", "supervisor"))
    with_robot(site, robot)
    emergency(site, note="[点我](http://evil.example)\n### 假标题")
    run(wecom.send_pending())
    content = json.loads(robot.requests_to(HOOK)[0].body)["markdown"]["content"]
    assert "](http://evil.example)" not in content
    assert "\n### 假标题" not in content


def test_a_failing_robot_is_retried_and_never_holds_up_the_push(make_site, robot, caplog):
    caplog.set_level(logging.INFO)  # httpx logs each request URL at INFO
    site = make_site(roles=("guard", "supervisor"))
    with_robot(site, robot)
    robot.script(HOOK, 500, (200, b'{"errcode":45009,"errmsg":"api freq out of limit"}'), OK)
    push_service = Loopback()
    try:
        phone = Subscriber(push_service.url("/push/supervisor"))
        run(subscriptions.subscribe(site["users"]["supervisor"].id, phone.endpoint, phone.p256dh, b64url(phone.auth)))
        rect_id = emergency(site)

        run(run_once())

        [pushed] = push_service.requests_to("/push/supervisor")
        assert phone.decrypt(pushed)["kind"] == "emergency"
        supervisor_row = run(Notification.objects().where(
            (Notification.staff == site["users"]["supervisor"].id) & (Notification.event_key == f"emergency:{rect_id}")
        ).first())
        assert supervisor_row.push_state == "sent"
        row = message_of(rect_id)
        assert (row.state, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")

        at = datetime.now(timezone.utc)
        for _ in range(2):
            at += wecom.backoff(8) + timedelta(seconds=1)
            run(wecom.send_pending(at))
        row = message_of(rect_id)
        assert (row.state, row.attempts) == ("sent", 3)
        assert len(robot.requests_to(HOOK)) == 3
        assert len(push_service.requests_to("/push/supervisor")) == 1
    finally:
        push_service.close()
    assert "WeCom robot" in caplog.text  # the failure is logged …
    assert KEY not in caplog.text  # … without the key, even by httpx's request log
    assert KEY not in row.last_error


def test_a_robot_that_never_answers_is_given_up_after_the_last_attempt(make_site):
    site = make_site(roles=("guard", "supervisor"))
    run(Site.update({Site.wecom_webhook: f"http://127.0.0.1:9{HOOK}?key={KEY}"}).where(Site.id == site["site"].id))
    rect_id = emergency(site)
    at = datetime.now(timezone.utc)
    for _ in range(wecom.MAX_ATTEMPTS):
        run(wecom.send_pending(at))
        at += wecom.backoff(wecom.MAX_ATTEMPTS) + timedelta(seconds=1)
    row = message_of(rect_id)
    assert (row.state, row.attempts) == ("failed", wecom.MAX_ATTEMPTS)
    assert row.last_error.startswith("network")


def test_removing_the_webhook_drops_what_was_queued(make_site, robot):
    site = make_site(roles=("guard", "supervisor"))
    with_robot(site, robot)
    rect_id = emergency(site)
    run(Site.update({Site.wecom_webhook: ""}).where(Site.id == site["site"].id))
    run(wecom.send_pending())
    assert message_of(rect_id).state == "dropped"
    assert robot.requests_to(HOOK) == []


def test_the_webhook_is_shown_masked():
    url = f"https://qyapi.weixin.qq.com{HOOK}?key={KEY}"
    shown = wecom.mask(url)
    assert KEY not in shown
    assert shown.startswith(f"https://qyapi.weixin.qq.com{HOOK}?key=5f2c")
    assert shown.endswith("CRET")
    assert wecom.mask("") == ""
