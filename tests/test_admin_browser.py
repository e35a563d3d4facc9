"""Administration in real Chromium: the poster's QR code (as the page draws it) decodes to the
checkpoint's secret, and an admin creates a site, adds a checkpoint and prints its poster."""

from __future__ import annotations

import hashlib
import io
import re
import uuid

import pytest
import zxingcpp
from PIL import Image

from admin_pages import as_admin

pytestmark = pytest.mark.browser
ORIGIN = "http://testserver.local"


def decode(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


@pytest.fixture
def proxied_page(browser, client):
    """A Chromium page whose requests to the test origin are answered by the in-process app (same cookies)."""
    context = browser.new_context(locale="zh-CN", device_scale_factor=2)
    page = context.new_page()

    def answer(route):
        request = route.request
        response = client.request(request.method, request.url.removeprefix(ORIGIN), follow_redirects=False)
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location")}
        route.fulfill(status=response.status_code, headers=headers, body=response.content)

    page.route(f"{ORIGIN}/**", answer)
    yield page
    context.close()


def test_the_poster_pages_qr_codes_decode_to_the_checkpoint_secrets(client, make_site, proxied_page):
    env = make_site(roles=("admin",))
    as_admin(client, env)
    site_id = env["site"].id
    secrets = {str(c["checkpoint"].id): c["secret"] for c in env["checkpoints"]}
    page = proxied_page
    page.goto(f"{ORIGIN}/admin/sites/{site_id}/posters")
    page.wait_for_selector("section.poster svg.qr")
    posters = page.locator("section.poster")
    assert posters.count() == len(secrets), page.content()[:3000]
    for i in range(posters.count()):
        poster = posters.nth(i)
        cp_id = poster.get_attribute("data-checkpoint")
        assert decode(poster.locator("svg.qr").screenshot()) == [secrets[cp_id]]
    # The label sheet's smaller codes still read.
    page.goto(f"{ORIGIN}/admin/sites/{site_id}/posters?layout=labels")
    page.wait_for_selector("section.label svg.qr")
    labels = page.locator("section.label")
    assert labels.count() == len(secrets)
    first = labels.nth(0)
    assert decode(first.locator("svg.qr").screenshot()) == [secrets[first.get_attribute("data-checkpoint")]]


def test_an_admin_creates_a_site_adds_a_checkpoint_and_prints_its_poster(live_server, browser):
    context = browser.new_context(locale="zh-CN", device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "xunjian-demo")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/admin/sites")
        site_name = f"浏览器小区-{uuid.uuid4().hex[:4]}"
        form = page.locator("#new-site")
        form.locator("input[name=name]").fill(site_name)
        form.locator("select[name=level]").select_option("1")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/admin/sites/[0-9a-f-]{36}\?ok=created"))
        assert page.locator("h1").inner_text() == site_name
        assert page.locator("[data-level]").get_attribute("data-level") == "1"
        site_id = re.search(r"/admin/sites/([0-9a-f-]{36})", page.url).group(1)

        page.click("nav.site-tabs >> text=区域与点位")
        zone_form = page.locator("#new-zone")
        zone_form.locator("input[name=name]").fill("东门")
        zone_form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"ok=zone"))
        cp_form = page.locator("#new-checkpoint")
        cp_form.locator("input[name=name]").fill("东门岗亭")
        cp_form.locator("select[name=kind]").select_option("gate")
        cp_form.locator("select[name=zone]").select_option(label="东门")
        cp_form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"ok=checkpoint"))
        assert "东门岗亭" in page.locator("section.zone").first.inner_text()

        page.click("nav.site-tabs >> text=打印二维码")
        page.wait_for_selector("section.poster")
        poster = page.locator("section.poster")
        assert poster.count() == 1
        text = poster.inner_text()
        assert site_name in text and "东门岗亭" in text and "东门" in text
        short_code = poster.locator("[data-short-code]").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-9]{6}", short_code)
        scanned = decode(poster.locator("svg.qr").screenshot())
        assert len(scanned) == 1
        # What the poster encodes is what phones verify against (they only ever get the hash).
        detail = page.request.get(f"{live_server.url}/api/sites/{site_id}").json()
        checkpoint = next(c for c in detail["checkpoints"] if c["name"] == "东门岗亭")
        assert hashlib.sha256(scanned[0].encode()).hexdigest() == checkpoint["qr_hash"]
        assert hashlib.sha256(short_code.encode()).hexdigest() == checkpoint["code_hash"]

        # Printing: the toolbar disappears and the poster fills exactly one A4 page.
        page.emulate_media(media="print")
        assert not page.locator(".print-toolbar").is_visible()
        pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
        assert pdf_pages(pdf) == 1
        page.goto(f"{live_server.url}/admin/sites/{site_id}/posters?layout=labels")
        assert page.locator("section.label").count() == 1
    finally:
        context.close()
