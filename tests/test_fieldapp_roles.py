"""The field app for the other roles, and in both languages (real Chromium):
a cleaner ticks the daily route without scanning; a technician fixes an assigned
rectification offline with an after photo; no screen shows an untranslated key.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import uuid
from datetime import datetime, timezone
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


def as_supervisor(server: LiveServer, ops: list[dict[str, Any]], photo: bytes | None = None) -> dict[str, Any]:
    """supervisor1's phone, through the sync API: upload a photo, push ops (their data may use
    {site}, {tech} and {photo}), and return the pull it started from and the answers."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/api/auth/device", json={
            "username": "supervisor1", "password": DEMO_PASSWORD, "device_id": str(uuid.uuid4()), "device_name": "test"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sha = hashlib.sha256(photo).hexdigest() if photo else ""
        if photo:
            assert http.put(f"/sync/photos/{sha}", content=photo, headers={**auth, "Content-Type": "image/jpeg"}).status_code in (200, 201)
        pull = http.get("/sync/pull", headers=auth).json()
        names = {"site": pull["sites"][0]["id"], "photo": sha,
                 "tech": next(x["id"] for x in pull["staff"] if x["role"] == "technician")}
        now = datetime.now(timezone.utc).isoformat()
        filled = [{"op_id": str(uuid7()), "type": op["type"], "at": now,
                   "data": {k: ([names.get(x.strip("{}"), x) for x in v] if isinstance(v, list)
                                else names.get(v.strip("{}"), v) if isinstance(v, str) and v.startswith("{") else v)
                            for k, v in op["data"].items()}} for op in ops]
        answer = http.post("/sync/push", json={"device_id": "test", "device_time": now, "ops": filled}, headers=auth).json()
    return {"results": answer["results"], "photo": sha}


def assigned_rectification(server: LiveServer, photo: bytes) -> dict[str, str]:
    """A supervisor reports a broken light with a photo and assigns it to tech1."""
    rect_id = str(uuid7())
    got = as_supervisor(server, [
        {"type": "finding.report", "data": {"finding_id": rect_id, "site_id": "{site}", "category": "lighting",
                                            "severity": "normal", "note": "花园路灯不亮", "photos": ["{photo}"]}},
        {"type": "rect.transition", "data": {"rect_id": rect_id, "action": "assign", "assignee_id": "{tech}"}},
    ], photo=photo)
    assert [r["status"] for r in got["results"]] == ["applied", "applied"], got
    return {"id": rect_id, "before": got["photo"]}


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


def test_a_step_overtaken_on_the_server_is_shown_under_needs_attention(playwright_instance, field_server, tmp_path):
    rect = assigned_rectification(field_server, small_jpeg(tmp_path / "before.jpg", seed=31).read_bytes())
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, "tech1")
        wait_offline_ready(page)
        wait_synced(page)
        context.set_offline(True)
        go(page, f"#/rect/{rect['id']}")
        page.click("[data-action=rect-start]")
        page.wait_for_selector("[data-rect-state=in_progress]")
        expect_outbox(page, 1)
        # Meanwhile the supervisor fixed it at reception and verified it.
        done = as_supervisor(field_server, [
            {"type": "rect.transition", "data": {"rect_id": rect["id"], "action": "fix", "photos": ["{photo}"]}},
            {"type": "rect.transition", "data": {"rect_id": rect["id"], "action": "verify"}},
        ], photo=small_jpeg(tmp_path / "fixed.jpg", seed=32).read_bytes())
        assert [r["status"] for r in done["results"]] == ["applied", "applied"], done

        context.set_offline(False)
        page.wait_for_selector(".sync-status[data-sync=attention]", timeout=60_000)
        expect_outbox(page, 0)  # answered, so it left the outbox
        go(page, "#/attention")
        item = page.locator("[data-attention]")
        assert item.count() == 1
        assert item.get_attribute("data-status") == "conflict"
        text = item.inner_text()
        assert "整改操作" in text and "已验收" in text  # what it was, and where the rectification is now
        item.locator("button").click()
        page.wait_for_selector("[data-attention]", state="detached")
        page.wait_for_selector(".sync-status[data-sync=idle]")
    finally:
        context.close()


KEY_PATTERN = re.compile(r"\b(?:field|role|notify|app|home|login|nav|error)\.[a-z_]+(?:\.[a-z_]+)*\b")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


TARGETS = ("#view button, #view a.button, #view a.row, #view .item-link, #view summary, #view select, #view textarea,"
           " #view input:not([type=file]), .tabs a, .bar .back:not([hidden]), .bar .sync-status")


def small_targets(page: Any) -> list[str]:
    """Visible controls of the app smaller than 48 x 48 CSS px (extensions' own controls aside)."""
    return page.eval_on_selector_all(TARGETS, """els => els
        .filter((e) => !e.closest('#xj-push, #xj-push-hook') && e.getClientRects().length)
        .map((e) => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.height < 48 || r.width < 48)
        .map(([e, r]) => `${e.tagName}.${e.className} ${Math.round(r.width)}x${Math.round(r.height)}`)""")


def screen_text(page: Any) -> str:
    return page.evaluate("document.body.innerText") + " " + " ".join(
        page.eval_on_selector_all("[placeholder], [aria-label], [title]",
                                  "els => els.map((e) => [e.placeholder, e.getAttribute('aria-label'), e.title].join(' '))"))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_screen_is_translated_with_large_targets(browser, field_server, language):
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
        small = {"login": small_targets(page)}

        login_form(page, field_server.url, "guard1")
        wait_synced(page)
        assert page.evaluate("document.documentElement.lang") == language
        patrol = template_id(field_server, "patrol.core")
        go(page, "#/start")
        seen["start"] = screen_text(page)
        small["start"] = small_targets(page)
        page.click(f"[data-start='{patrol['id']}']")
        page.wait_for_function("() => /^#\\/round\\/[\\w-]+$/.test(location.hash)")
        page.wait_for_selector("[data-item]")
        seen["round"] = screen_text(page)
        small["round"] = small_targets(page)
        page.locator("[data-item] a").first.click()
        page.wait_for_selector("[data-action=save-visit]")
        page.click("details summary")
        seen["visit"] = screen_text(page)
        small["visit"] = small_targets(page)
        page.go_back()
        page.wait_for_selector("[data-action=to-finish]")
        page.click("[data-action=to-finish]")
        page.wait_for_selector("[data-skipped]")
        seen["finish"] = screen_text(page)
        small["finish"] = small_targets(page)
        for route in ("#/finding", "#/rects", "#/settings", "#/attention", "#/"):
            go(page, route)
            page.wait_for_timeout(300)
            seen[route] = screen_text(page)
            small[route] = small_targets(page)
    finally:
        context.close()
    for screen, text in seen.items():
        assert not KEY_PATTERN.findall(text), (screen, KEY_PATTERN.findall(text))
        assert not PLACEHOLDER.findall(text), (screen, PLACEHOLDER.findall(text))
    # Large touch targets, usable with one hand and gloves: at least 48 px each way.
    assert not any(small.values()), {k: v for k, v in small.items() if v}
    marker = {"zh-CN": "巡查", "en": "round"}[language]
    assert marker in seen["start"] + seen["round"] + seen["#/"], "the screens are in the chosen language"
