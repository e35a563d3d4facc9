"""The guard in the car park with no signal: a whole patrol offline, photos included,
a reload, the browser closed and opened again, and then everything arrives at
the server exactly once (real Chromium, real QR images, real multi-MB JPEGs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import LiveServer
from fieldapp_support import (
    add_photos, big_jpeg, go, login_form, expect_outbox, persistent_context, qr_png, scan_poster, server_query,
    wait_app, wait_offline_ready, wait_synced,
)
from server.demo import DEMO_CHECKPOINTS, demo_secret

pytestmark = pytest.mark.browser

CODES = {name: code for _zone, name, _kind, code in DEMO_CHECKPOINTS}


@pytest.fixture(scope="module")
def field_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-field-patrol-"))).start()
    yield server
    server.stop()


def patrol_template(server: LiveServer) -> dict[str, Any]:
    """The demo site's core patrol: its id and its checkpoints in their suggested order."""
    return server_query(server, """
        from server.rounds.tables import RoundTemplate, TemplateItem
        from server.sites.tables import Checkpoint
        t = await RoundTemplate.objects().where(RoundTemplate.code == 'patrol.core').first()
        items = await TemplateItem.select(TemplateItem.checkpoint, TemplateItem.checks).where(
            TemplateItem.template == t.id).order_by(TemplateItem.position)
        names = {str(c['id']): c['name'] for c in await Checkpoint.select(Checkpoint.id, Checkpoint.name)}
        result = {'id': str(t.id), 'items': [{'checkpoint_id': str(i['checkpoint']), 'name': names[str(i['checkpoint'])],
                                              'checks': len(json.loads(i['checks']) if isinstance(i['checks'], str) else i['checks'])}
                            for i in items]}
    """)


def arrived(server: LiveServer, round_id: str) -> dict[str, Any]:
    return server_query(server, f"""
        from server.rounds.tables import Round, Visit
        from server.rectifications.tables import Finding, Rectification
        from server.photos.tables import Photo
        from sync.tables import SyncOp
        rounds = await Round.select(Round.id, Round.state).where(Round.id == '{round_id}')
        visits = await Visit.select(Visit.id, Visit.checkpoint, Visit.proof, Visit.proof_verified, Visit.has_problem,
                                    Visit.photos_missing).where(Visit.round == '{round_id}')
        visit_ids = [v['id'] for v in visits]
        def listed(value):  # JSON columns come back as text on SQLite
            return json.loads(value) if isinstance(value, str) else value
        findings = await Finding.select(Finding.id, Finding.photos, Finding.category, Finding.note).where(
            Finding.visit.is_in(visit_ids)) if visit_ids else []
        findings = [{{**f, 'photos': listed(f['photos'])}} for f in findings]
        rects = await Rectification.select(Rectification.id, Rectification.photos_before, Rectification.state).where(
            Rectification.id.is_in([f['id'] for f in findings])) if findings else []
        rects = [{{**r, 'photos_before': listed(r['photos_before'])}} for r in rects]
        shas = [s for f in findings for s in f['photos']]
        photos = await Photo.select(Photo.sha256, Photo.width, Photo.height, Photo.bytes).where(
            Photo.sha256.is_in(shas)) if shas else []
        ops = [{{'type': o['type'], 'status': o['status']}}
               for o in await SyncOp.select(SyncOp.op_id, SyncOp.type, SyncOp.status, SyncOp.data)
               if '{round_id}' in json.dumps(o['data'], default=str)]
        result = {{'rounds': rounds, 'visits': visits, 'findings': findings, 'rects': rects, 'photos': photos, 'ops': ops}}
    """)


def test_offline_patrol_survives_reload_and_restart_and_arrives_once(playwright_instance, field_server, tmp_path):
    patrol = patrol_template(field_server)
    items = patrol["items"]
    assert len(items) >= 5, "the demo patrol should cover the site's core checkpoints"
    posters = {i["checkpoint_id"]: qr_png(demo_secret(CODES[i["name"]]), tmp_path / f"{CODES[i['name']]}.png") for i in items}
    photos = [big_jpeg(tmp_path / "photo1.jpg", seed=1), big_jpeg(tmp_path / "photo2.jpg", seed=2)]
    assert all(p.stat().st_size > 2_000_000 for p in photos), "the camera photos should be several MB"
    profile = tmp_path / "profile"

    context = persistent_context(playwright_instance, profile)
    page = context.pages[0]
    login_form(page, field_server.url, "guard1")
    wait_offline_ready(page)
    wait_synced(page)

    context.set_offline(True)
    go(page, "#/start")
    page.click(f"[data-start='{patrol['id']}']")
    page.wait_for_function("() => /^#\\/round\\/[\\w-]+$/.test(location.hash)")
    round_id = page.evaluate("location.hash.split('/')[2]")

    # The suggested order is not forced: walk the route backwards.
    problem_cp = items[1]["checkpoint_id"]
    for item in reversed(items):
        cp = item["checkpoint_id"]
        scan_poster(page, posters[cp])
        page.wait_for_function(f"() => location.hash.endsWith('/cp/{cp}')")
        page.wait_for_selector("[data-proof='qr']")
        buttons = page.locator("[data-answer=ok]")
        assert buttons.count() == item["checks"]
        for n in range(buttons.count()):
            buttons.nth(n).click()
        if cp == problem_cp:
            page.locator("[data-answer=problem]").first.click()
            page.fill("[data-note]:visible", "消防通道被杂物堵住")
            page.click("[data-action=save-visit]")
            # A problem answer leads straight to the finding.
            page.wait_for_function("() => location.hash.startsWith('#/finding?')")
            page.wait_for_selector("[data-action=save-finding]")
            assert page.locator("[data-category][aria-pressed=true]").count() == 1, "a category is suggested"
            page.click("[data-category=fire_safety]")
            page.click("[data-severity=normal]")
            add_photos(page, "[data-photo-input=finding]", photos, expected=2)
            page.fill("textarea[name=note]", "B1 消防通道堆放纸箱")
            page.click("[data-action=save-finding]")
        else:
            page.click("[data-action=save-visit]")
        page.wait_for_function(f"() => location.hash === '#/round/{round_id}'")
        page.wait_for_selector(f"[data-item='{cp}'][data-visited='1']")

    page.click("[data-action=to-finish]")
    page.wait_for_selector("[data-skipped='0']")
    page.click("[data-action=finish]")
    page.wait_for_function("() => location.hash === '#/'")
    expected_ops = 1 + len(items) + 1 + 1  # start, visits, the finding, finish
    expect_outbox(page, expected_ops)
    assert page.get_attribute(".sync-status", "data-photos") == "2"
    assert page.get_attribute(".sync-status", "data-sync") == "offline"

    # Reload while offline: the service worker opens the app, IndexedDB still holds everything.
    page.reload()
    wait_app(page)
    expect_outbox(page, expected_ops)
    page.wait_for_selector(f"[data-record='{round_id}']")
    assert "等待发送" in page.inner_text(f"[data-record='{round_id}']")

    # Close the browser and open it again on the same profile, still offline (a phone restart).
    context.close()
    context = persistent_context(playwright_instance, profile)
    try:
        context.set_offline(True)
        page = context.pages[0]
        page.goto(f"{field_server.url}/app")
        wait_app(page)
        expect_outbox(page, expected_ops)
        go(page, f"#/round/{round_id}")
        page.wait_for_selector("[data-item]")
        assert page.locator("[data-visited='1']").count() == len(items)

        # Signal again: it all goes by itself.
        go(page, "#/")
        context.set_offline(False)
        wait_synced(page, timeout=90_000)
        page.wait_for_selector(f"[data-record='{round_id}']")
        assert "服务器已收到" in page.inner_text(f"[data-record='{round_id}']")
    finally:
        context.close()

    got = arrived(field_server, round_id)
    assert [r["state"] for r in got["rounds"]] == ["finished"]
    assert len(got["visits"]) == len(items)
    assert sorted(str(v["checkpoint"]) for v in got["visits"]) == sorted(i["checkpoint_id"] for i in items)
    assert all(v["proof"] == "qr" and v["proof_verified"] for v in got["visits"])
    assert [str(v["checkpoint"]) for v in got["visits"] if v["has_problem"]] == [problem_cp]
    assert len(got["findings"]) == 1
    finding = got["findings"][0]
    assert finding["category"] == "fire_safety" and len(finding["photos"]) == 2
    assert [str(r["id"]) for r in got["rects"]] == [str(finding["id"])]
    assert sorted(got["rects"][0]["photos_before"]) == sorted(finding["photos"])
    assert sorted(p["sha256"] for p in got["photos"]) == sorted(finding["photos"])
    for p in got["photos"]:
        assert max(p["width"], p["height"]) <= 1600
        assert p["bytes"] < 1_500_000, "re-encoded on the phone, not the original"
    assert sorted(o["type"] for o in got["ops"] if o["type"] != "finding.report").count("visit.record") == len(items)
    assert all(o["status"] == "applied" for o in got["ops"]), got["ops"]
