"""Checkpoint proof on the phone: the live camera reads a poster (Chromium's fake camera
plays a real QR image), a typed short code is the weaker proof, a wrong code or
another poster is refused, and the server agrees with what the phone verified.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer
from fieldapp_support import (
    TIMEZONE, go, login_form, qr_png, server_query, wait_offline_ready, wait_synced, watch, y4m_video,
)
from server.demo import demo_secret

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def field_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-field-scan-"))).start()
    yield server
    server.stop()


def test_camera_scan_and_typed_code_are_verified_offline(playwright_instance, field_server, tmp_path):
    ids = server_query(field_server, """
        from server.rounds.tables import RoundTemplate
        from server.sites.tables import Checkpoint
        t = await RoundTemplate.objects().where(RoundTemplate.code == 'patrol.core').first()
        cps = {c['name']: str(c['id']) for c in await Checkpoint.select(Checkpoint.id, Checkpoint.name)}
        result = {'patrol': str(t.id), 'gate': cps['B1车库入口'], 'pump': cps['水泵房']}
    """)
    video = y4m_video(qr_png(demo_secret("B1GATE"), tmp_path / "gate.png"), tmp_path / "gate.y4m")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(locale="zh-CN", timezone_id=TIMEZONE, permissions=["camera"])
        page = watch(context.new_page())
        login_form(page, field_server.url, "guard1")
        wait_offline_ready(page)
        wait_synced(page)
        context.set_offline(True)
        go(page, "#/start")
        page.click(f"[data-start='{ids['patrol']}']")
        page.wait_for_selector("[data-action=scan-camera]")
        round_id = page.evaluate("location.hash.split('/')[2]")

        # The live camera sees the B1 gate poster: its item opens, proven by QR.
        page.click("[data-action=scan-camera]")
        page.wait_for_function(f"() => location.hash.endsWith('/cp/{ids['gate']}')", timeout=30_000)
        page.wait_for_selector("[data-proof='qr']")
        for n in range(page.locator("[data-answer=ok]").count()):
            page.locator("[data-answer=ok]").nth(n).click()
        page.click("[data-action=save-visit]")
        page.wait_for_selector(f"[data-item='{ids['gate']}'][data-visited='1']")

        # The pump room's poster is damaged: its short code, typed by hand.
        page.click(f"[data-item='{ids['pump']}'] a")
        page.wait_for_selector("[data-proof='']")
        page.click("details summary")
        page.fill("[data-code-input]", "b1gate")  # another checkpoint's code is refused
        page.click("[data-action=use-code]")
        page.wait_for_selector("[data-scan-error]:not([hidden])")
        assert page.locator("[data-action=save-visit]").is_disabled()
        page.fill("[data-code-input]", " pump01 ")
        page.click("[data-action=use-code]")
        page.wait_for_selector("[data-proof='code']")
        for n in range(page.locator("[data-answer=ok]").count()):
            page.locator("[data-answer=ok]").nth(n).click()
        page.click("[data-action=save-visit]")
        page.wait_for_selector(f"[data-item='{ids['pump']}'][data-visited='1']")

        context.set_offline(False)
        wait_synced(page)
        context.close()
    finally:
        browser.close()

    visits = server_query(field_server, f"""
        from server.rounds.tables import Visit
        rows = await Visit.select(Visit.checkpoint, Visit.proof, Visit.proof_verified).where(Visit.round == '{round_id}')
        result = {{str(r['checkpoint']): [r['proof'], r['proof_verified']] for r in rows}}
    """)
    assert visits == {ids["gate"]: ["qr", True], ids["pump"]: ["code", True]}
