"""The field app against a server that misbehaves: a photo upload that fails halfway,
a token revoked while the phone was offline, a new version of the app while the
outbox is full (real Chromium, a loopback proxy in front of a live server).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from conftest import LiveServer
from fieldapp_support import (
    LoopbackProxy, go, login_form, expect_outbox, persistent_context, record_ids, report_finding, server_query,
    small_jpeg, wait_app, wait_offline_ready, wait_synced, worker_version,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def field_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-field-sync-"))).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(field_server: LiveServer) -> Iterator[LoopbackProxy]:
    p = LoopbackProxy(field_server.port).start()
    yield p
    p.stop()


def finding_on_server(server: LiveServer, finding_id: str) -> dict:
    return server_query(server, f"""
        from server.rectifications.tables import Finding, Rectification
        from server.photos.tables import Photo
        def listed(value):
            return json.loads(value) if isinstance(value, str) else value
        findings = await Finding.select(Finding.id, Finding.photos).where(Finding.id == '{finding_id}')
        shas = [s for f in findings for s in listed(f['photos'])]
        photos = await Photo.select(Photo.sha256, Photo.width, Photo.height).where(Photo.sha256.is_in(shas)) if shas else []
        rects = await Rectification.select(Rectification.id, Rectification.photos_missing).where(
            Rectification.id == '{finding_id}')
        result = {{'findings': len(findings), 'shas': shas, 'photos': photos, 'rects': rects}}
    """)


def test_photo_upload_failing_halfway_is_retried_and_arrives_once(playwright_instance, proxy, field_server, tmp_path):
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, proxy.url, "guard1")
        wait_offline_ready(page)
        wait_synced(page)

        proxy.fail_next_photo_put = True
        report_finding(page, [small_jpeg(tmp_path / "p.jpg", seed=7)], category="lighting")
        finding_id = record_ids(page, "finding")[0]
        # The record is sent without its photo first, and says so, until the retry brings it.
        page.wait_for_function(
            f"""() => {{ const r = document.querySelector("[data-record='{finding_id}']");
                        return r && r.textContent.includes('0/1'); }}""", timeout=30_000)
        wait_synced(page, timeout=60_000)
        page.wait_for_function(f"""() => document.querySelector("[data-record='{finding_id}']").textContent.includes('服务器已收到')""")
    finally:
        context.close()

    puts = proxy.requests("PUT", "/sync/photos/")
    assert [status for _m, _p, status in puts] == [500, 201], puts
    assert puts[0][1] == puts[1][1], "the same photo was sent again"
    got = finding_on_server(field_server, finding_id)
    assert got["findings"] == 1
    assert len(got["photos"]) == 1 and got["photos"][0]["sha256"] == puts[0][1].rsplit("/", 1)[1]
    assert got["rects"][0]["photos_missing"] == 0


def test_token_revoked_while_offline_keeps_the_queue_through_login(playwright_instance, proxy, field_server, tmp_path):
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, proxy.url, "gardener1")
        wait_offline_ready(page)
        wait_synced(page)

        context.set_offline(True)
        report_finding(page, [small_jpeg(tmp_path / "tree.jpg", seed=3)], category="dead_tree", note="枯树")
        report_finding(page, [small_jpeg(tmp_path / "hedge.jpg", seed=4)], category="other", note="绿篱超高")
        finding_ids = record_ids(page, "finding")
        expect_outbox(page, 2)
        # Meanwhile an admin revokes this phone's token (or it runs out).
        revoked = server_query(field_server, """
            from server.staff.auth import revoke_device_tokens
            from server.staff.tables import Staff
            staff = await Staff.objects().where(Staff.username == 'gardener1').first()
            result = await revoke_device_tokens(staff.id)
        """)
        assert revoked >= 1

        context.set_offline(False)
        page.wait_for_selector("[data-login=expired]", timeout=30_000)
        assert "2" in page.inner_text("[data-login=queued]")
        page.reload()  # the queue and the expired state survive a reload too
        wait_app(page)
        page.wait_for_selector("[data-login=expired]")
        expect_outbox(page, 2)
        page.fill("input[name=username]", "gardener1")
        page.fill("input[name=password]", "xunjian-demo")
        page.click("button[type=submit]")
        wait_synced(page, timeout=60_000)
    finally:
        context.close()

    refused = [r for r in proxy.log if r[1].startswith("/sync/") and r[2] == 401]
    assert refused, "the revoked token was refused"
    assert proxy.requests("POST", "/api/auth/device")[-1][2] == 200, "the password login gave a new token"
    for finding_id in finding_ids:
        got = finding_on_server(field_server, finding_id)
        assert got["findings"] == 1 and len(got["photos"]) == 1


def test_app_opens_offline_after_a_new_version_without_losing_the_outbox(playwright_instance, proxy, field_server, tmp_path):
    profile = tmp_path / "profile"
    context = persistent_context(playwright_instance, profile)
    try:
        page = context.pages[0]
        login_form(page, proxy.url, "guard1")
        wait_offline_ready(page)
        wait_synced(page)
        first = worker_version(page)
        assert first
        precached = set(json.loads(re.search(r"const XJ = (\{.*?\});\n", httpx.get(f"{proxy.url}/sw.js").text, re.S)
                                   .group(1))["precache"])

        proxy.push_down = True  # the server cannot take pushes: the outbox stays full
        report_finding(page, [small_jpeg(tmp_path / "x.jpg", seed=11)], category="graffiti")
        finding_id = record_ids(page, "finding")[0]
        page.wait_for_function("() => document.querySelector('.sync-status').dataset.sync === 'waiting'", timeout=30_000)
        expect_outbox(page, 1)

        # A new deployment: the worker changes, installs, takes over and drops the old cache.
        mark = len(proxy.log)
        proxy.sw_suffix = "v2"
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        page.wait_for_function("() => navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL", timeout=30_000)
        page.wait_for_function("""async () => (await caches.keys()).filter((k) => k.startsWith('xj-shell-v2-')).length === 1
                                  && (await caches.keys()).filter((k) => k.startsWith('xj-shell-')).length === 1""", timeout=60_000)
        # The page reloads itself on the home screen once the new worker controls it.
        deadline = time.time() + 30
        version = ""
        while not version.startswith("v2-") and time.time() < deadline:
            time.sleep(0.5)
            try:
                version = worker_version(page) or ""
            except PlaywrightError:  # the page is reloading
                version = ""
        assert version == f"v2-{first}"
        wait_app(page)
        # No file changed in this deployment: none is downloaded again (copied from the old cache).
        refetched = [r for r in proxy.log[mark:] if r[0] == "GET" and r[1].split("?")[0] in precached]
        assert refetched == [], refetched

        context.set_offline(True)
        page.reload()
        wait_app(page)
        expect_outbox(page, 1)
        go(page, "#/settings")
        assert page.get_attribute("[data-version]", "data-version").startswith("v2-")
    finally:
        context.close()

    # Restarted, online, server back: the queued finding arrives once.
    proxy.push_down = False
    context = persistent_context(playwright_instance, profile)
    try:
        page = context.pages[0]
        page.goto(f"{proxy.url}/app")
        wait_app(page)
        wait_synced(page, timeout=60_000)
    finally:
        context.close()
    assert finding_on_server(field_server, finding_id)["findings"] == 1
