"""Real Chromium: the app's service worker shows a pushed notification and a click opens its page.

The push is delivered through the DevTools protocol (ServiceWorker.deliverPushMessage),
as a push service would after decrypting; its payload is a real notification the
live server made for a real emergency finding.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from phone import Phone


def wait_for(page: Any, probe: Any, timeout: float = 15) -> Any:
    """Poll while letting Playwright dispatch events (a plain sleep would starve the CDP listeners)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("timed out")


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', "xunjian-demo")
    page.click('button[type="submit"]')
    page.wait_for_load_state("networkidle")


def registration_id(page: Any, cdp: Any, origin: str) -> str:
    found: dict[str, str] = {}

    def seen(event: dict[str, Any]) -> None:
        for reg in event.get("registrations", []):
            if reg["scopeURL"].startswith(origin) and not reg.get("isDeleted"):
                found["id"] = reg["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", seen)
    cdp.send("ServiceWorker.enable")
    return wait_for(page, lambda: found.get("id"))


def push_until_shown(page: Any, cdp: Any, origin: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver a push through DevTools until the worker shows a notification; what it shows.

    DevTools delivers to the worker once, and one that is still starting may drop it, so it is
    sent again every few seconds (the same tag: a later one replaces the notification, never adds one).
    """
    registration = registration_id(page, cdp, origin)
    sent = {"at": 0.0}

    def shown_after_push() -> Any:
        if time.time() - sent["at"] > 3:
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": origin, "registrationId": registration, "data": json.dumps(payload)})
            sent["at"] = time.time()
        return page.evaluate(SHOWN)

    return wait_for(page, shown_after_push)


SHOWN = """() => navigator.serviceWorker.ready
  .then((reg) => reg.getNotifications())
  .then((list) => list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data,
                                    requireInteraction: n.requireInteraction})))"""


@pytest.mark.browser
def test_a_push_shows_the_notification_and_a_click_opens_its_page(live_server, browser):
    base = live_server.url
    with httpx.Client(base_url=base, timeout=30) as http:
        guard = Phone(http, "guard1").login()
        site_id = guard.user["site_ids"][0]
        guard.report(site_id, "fire_safety", severity="emergency", note="B1 消防通道被堵")
        assert [a["status"] for a in guard.push()] == ["applied"]

    context = browser.new_context(locale="zh-CN")
    context.grant_permissions(["notifications"], origin=base)
    page = context.new_page()
    try:
        log_in(page, base, "supervisor1")
        # What the field app does on open: register the worker (scope "/"), which imports sw-push.js.
        page.evaluate("() => navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(() => true)")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30000)

        inbox = page.evaluate("() => fetch('/api/notifications').then((r) => r.json())")
        [item] = [i for i in inbox["items"] if i["kind"] == "emergency"]
        message = {k: item[k] for k in ("id", "kind", "title", "body", "url")} | {"tag": f"emergency:{item['id']}"}

        [shown] = push_until_shown(page, context.new_cdp_session(page), base, message)
        assert shown["title"] == "紧急问题 · 消防通道/器材"
        assert "B1 消防通道被堵" in shown["body"]
        assert shown["tag"] == message["tag"]
        assert shown["requireInteraction"] is True  # an emergency stays until someone acts
        assert shown["data"]["url"] == base + item["url"]

        page.evaluate("(tag) => navigator.serviceWorker.controller.postMessage("
                      "{type: 'xj-test-notification-click', tag})", message["tag"])
        page.wait_for_url(base + item["url"], timeout=15000)
        assert "/rectifications/" in page.url
        assert page.evaluate(SHOWN) == []  # the click closed it
    finally:
        context.close()


@pytest.mark.browser
def test_a_payload_cannot_send_a_click_to_another_site(live_server, browser):
    base = live_server.url
    context = browser.new_context(locale="zh-CN")
    context.grant_permissions(["notifications"], origin=base)
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        page.evaluate("() => navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(() => true)")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30000)
        evil = {"title": "x", "body": "y", "url": "https://evil.example/phish", "tag": "evil"}
        [shown] = push_until_shown(page, context.new_cdp_session(page), base, evil)
        assert shown["data"]["url"] == base + "/"
    finally:
        context.close()


@pytest.mark.browser
def test_the_phone_shows_its_inbox_with_an_unread_count_and_asks_for_push_only_from_the_button(live_server, browser):
    from fieldapp_support import go, login_form, wait_synced

    base = live_server.url
    with httpx.Client(base_url=base, timeout=30) as http:
        guard = Phone(http, "guard1").login()
        rect_id = guard.report(guard.user["site_ids"][0], "lighting", note="3号楼楼道灯不亮")
        guard.push()
        supervisor = Phone(http, "supervisor1").login()
        tech = Phone(http, "tech1").login()
        supervisor.transition(rect_id, "assign", assignee_id=tech.user["id"])
        assert [a["status"] for a in supervisor.push()] == ["applied"]

        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        asked: list[str] = []
        page.expose_function("xjPermissionAsked", lambda: asked.append("asked"))
        page.add_init_script("""(() => { const ask = Notification.requestPermission.bind(Notification);
            Notification.requestPermission = () => { window.xjPermissionAsked(); return ask(); }; })()""")
        try:
            login_form(page, base, "tech1")
            wait_synced(page)
            page.wait_for_selector('#xj-inbox-bell .notify-count[data-unread="1"]')
            page.click("#xj-inbox-bell")
            item = page.locator("#xj-inbox .notify-item.unread")
            assert "新的整改任务 · 照明损坏" in item.inner_text()
            item.locator("button").click()
            page.wait_for_function(f"() => location.hash === '#/rect/{rect_id}'")
            page.wait_for_selector('#xj-inbox-bell .notify-count[data-unread="0"]', state="attached")
            read = wait_for(page, lambda: [n for n in tech.pull()["notifications"] if n["read"]])
            assert [n["kind"] for n in read] == ["assigned"]  # the server heard it was read

            go(page, "#/settings")
            section = page.wait_for_selector("#xj-push[data-state]")
            assert section.get_attribute("data-state") == "disabled"
            assert asked == []  # never on load
            page.click('#xj-push [data-role="enable"]')
            page.wait_for_selector('#xj-push[data-state="denied"]')
            assert asked == ["asked"]
        finally:
            context.close()


@pytest.fixture(scope="module")
def live_server():
    """A server of this module's own: the inbox counts below must not see other modules' notifications."""
    import tempfile
    from pathlib import Path

    from conftest import LiveServer

    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-notify-live-"))).start()
    yield server
    server.stop()
