"""The field app for the other roles, and in both languages (real Chromium):
a cleaner ticks the daily route without scanning; a technician fixes an assigned
rectification offline with an after photo; no screen shows an untranslated key.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import LiveServer
from fieldapp_support import (
    TIMEZONE, add_photos, go, login_form, expect_outbox, persistent_context, server_query, small_jpeg, wait_app,
    wait_offline_ready, wait_synced, watch,
)
from server.demo import DEMO_PASSWORD
from server.ids import uuid7

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def field_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-field-roles-"))).start()
    yield server
    server.stop()


def template_id(server: LiveServer, code: str) -> dict[str, Any]:
    return server_query(server, f"""
        from server.rounds.tables import RoundTemplate, TemplateItem
        t = await RoundTemplate.objects().where(RoundTemplate.code == '{code}').first()
        result = {{'id': str(t.id), 'proof': t.proof,
                   'items': await TemplateItem.count().where(TemplateItem.template == t.id)}}
    """)


def round_on_server(server: LiveServer, round_id: str) -> dict[str, Any]:
    return server_query(server, f"""
        from server.rounds.tables import Round, Visit
        rounds = await Round.select(Round.state).where(Round.id == '{round_id}')
        visits = await Visit.select(Visit.proof, Visit.checkpoint).where(Visit.round == '{round_id}')
        result = {{'rounds': rounds, 'visits': visits}}
    """)


def test_cleaner_ticks_the_daily_route_without_scanning(playwright_instance, field_server, tmp_path):
    sweep = template_id(field_server, "clean.sweep")
    assert sweep["proof"] == "any" and sweep["items"] >= 2
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, "cleaner1")
        wait_offline_ready(page)
        wait_synced(page)
        context.set_offline(True)
        go(page, "#/start")
        page.click(f"[data-start='{sweep['id']}']")
        page.wait_for_function("() => /^#\\/round\\/[\\w-]+$/.test(location.hash)")
        round_id = page.evaluate("location.hash.split('/')[2]")
        page.wait_for_selector("[data-tick]")
        for n in range(sweep["items"]):
            page.locator("[data-tick]").first.click()
            page.wait_for_function(f"() => document.querySelectorAll(\"[data-visited='1']\").length === {n + 1}")
        assert page.locator("[data-tick]").count() == 0
        page.click("[data-action=to-finish]")
        page.wait_for_selector("[data-skipped='0']")
        page.click("[data-action=finish]")
        page.wait_for_function("() => location.hash === '#/'")
        expect_outbox(page, sweep["items"] + 2)
        context.set_offline(False)
        wait_synced(page)
    finally:
        context.close()
    got = round_on_server(field_server, round_id)
    assert [r["state"] for r in got["rounds"]] == ["finished"]
    assert len(got["visits"]) == sweep["items"]
    assert {v["proof"] for v in got["visits"]} == {"none"}


def assigned_rectification(server: LiveServer, photo: bytes) -> dict[str, str]:
    """A supervisor reports a broken light with a photo and assigns it to tech1, through the sync API."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/api/auth/device", json={
            "username": "supervisor1", "password": DEMO_PASSWORD, "device_id": str(uuid.uuid4()), "device_name": "test"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sha = hashlib.sha256(photo).hexdigest()
        assert http.put(f"/sync/photos/{sha}", content=photo, headers={**auth, "Content-Type": "image/jpeg"}).status_code in (200, 201)
        pull = http.get("/sync/pull", headers=auth).json()
        tech = next(s for s in pull["staff"] if s["role"] == "technician")
        rect_id = str(uuid7())
        now = "2026-01-01T00:00:00+00:00"
        ops = [
            {"op_id": str(uuid7()), "type": "finding.report", "at": now, "data": {
                "finding_id": rect_id, "site_id": pull["sites"][0]["id"], "category": "lighting", "severity": "normal",
                "note": "花园路灯不亮", "photos": [sha]}},
            {"op_id": str(uuid7()), "type": "rect.transition", "at": now, "data": {
                "rect_id": rect_id, "action": "assign", "assignee_id": tech["id"]}},
        ]
        answer = http.post("/sync/push", json={"device_id": "test", "device_time": now, "ops": ops}, headers=auth).json()
        assert [r["status"] for r in answer["results"]] == ["applied", "applied"], answer
    return {"id": rect_id, "before": sha}


def test_technician_fixes_an_assigned_rectification_offline(playwright_instance, field_server, tmp_path):
    rect = assigned_rectification(field_server, small_jpeg(tmp_path / "before.jpg", seed=21).read_bytes())
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, "tech1")
        wait_offline_ready(page)
        wait_synced(page)
        page.wait_for_selector(f"[data-rect='{rect['id']}']")  # on the home screen: assigned to me

        context.set_offline(True)
        go(page, f"#/rect/{rect['id']}")
        page.wait_for_selector("[data-rect-state=assigned]")
        # The before photo was kept on the phone at the last sync: it shows offline.
        assert page.locator("img.photo-large").count() == 1
        assert "期限" in page.inner_text("#view")
        page.click("[data-action=rect-start]")
        page.wait_for_selector("[data-rect-state=in_progress]")
        page.click("[data-action=rect-fix]")  # without an after photo: refused on the phone
        page.wait_for_selector("#toast:not([hidden])")
        expect_outbox(page, 1)
        add_photos(page, "[data-photo-input=after]", [small_jpeg(tmp_path / "after.jpg", seed=22)], expected=1)
        page.fill("textarea[name=note]", "已更换灯泡")
        page.click("[data-action=rect-fix]")
        page.wait_for_selector("[data-rect-state=fixed]")
        expect_outbox(page, 2)

        context.set_offline(False)
        wait_synced(page)
    finally:
        context.close()

    got = server_query(field_server, f"""
        from server.rectifications.tables import Rectification, RectTransition
        from server.staff.tables import Staff
        def listed(value):
            return json.loads(value) if isinstance(value, str) else value
        r = await Rectification.objects().where(Rectification.id == '{rect['id']}').first()
        tech = await Staff.objects().where(Staff.username == 'tech1').first()
        steps = await RectTransition.select(RectTransition.action, RectTransition.outcome, RectTransition.note).where(
            RectTransition.rectification == r.id).order_by(RectTransition.position)
        result = {{'state': r.state, 'after': listed(r.photos_after), 'assignee': str(r.assignee) == str(tech.id),
                   'steps': steps}}
    """)
    assert got["state"] == "fixed" and got["assignee"]
    assert len(got["after"]) == 1 and got["after"][0] != rect["before"]
    assert [(s["action"], s["outcome"]) for s in got["steps"] if s["action"] in ("start", "fix")] == [
        ("start", "applied"), ("fix", "applied")]
    assert any(s["note"] == "已更换灯泡" for s in got["steps"])


KEY_PATTERN = re.compile(r"\b(?:field|role|notify|app|home|login|nav|error)\.[a-z_]+(?:\.[a-z_]+)*\b")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def screen_text(page: Any) -> str:
    return page.evaluate("document.body.innerText") + " " + " ".join(
        page.eval_on_selector_all("[placeholder], [aria-label], [title]",
                                  "els => els.map((e) => [e.placeholder, e.getAttribute('aria-label'), e.title].join(' '))"))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_screen_is_translated(browser, field_server, language):
    context = browser.new_context(locale=language, timezone_id=TIMEZONE)
    try:
        page = watch(context.new_page())
        # The login screen of a phone nobody has logged in on yet.
        page.goto(f"{field_server.url}/app")
        wait_app(page)
        page.wait_for_selector("input[name=password]")
        if language == "en":
            page.click("button.link")
            page.wait_for_function("() => document.documentElement.lang === 'en'")
        seen = {"login": screen_text(page)}

        login_form(page, field_server.url, "guard1")
        wait_synced(page)
        assert page.evaluate("document.documentElement.lang") == language
        patrol = template_id(field_server, "patrol.core")
        go(page, "#/start")
        seen["start"] = screen_text(page)
        page.click(f"[data-start='{patrol['id']}']")
        page.wait_for_function("() => /^#\\/round\\/[\\w-]+$/.test(location.hash)")
        page.wait_for_selector("[data-item]")
        seen["round"] = screen_text(page)
        page.locator("[data-item] a").first.click()
        page.wait_for_selector("[data-action=save-visit]")
        page.click("details summary")
        seen["visit"] = screen_text(page)
        page.go_back()
        page.wait_for_selector("[data-action=to-finish]")
        page.click("[data-action=to-finish]")
        page.wait_for_selector("[data-skipped]")
        seen["finish"] = screen_text(page)
        for route in ("#/finding", "#/rects", "#/settings", "#/attention", "#/"):
            go(page, route)
            page.wait_for_timeout(300)
            seen[route] = screen_text(page)
    finally:
        context.close()
    for screen, text in seen.items():
        assert not KEY_PATTERN.findall(text), (screen, KEY_PATTERN.findall(text))
        assert not PLACEHOLDER.findall(text), (screen, PLACEHOLDER.findall(text))
    marker = {"zh-CN": "巡查", "en": "round"}[language]
    assert marker in seen["start"] + seen["round"] + seen["#/"], "the screens are in the chosen language"
