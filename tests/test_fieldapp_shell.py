"""The field app's shell, service worker and manifest as the server serves them, and
its catalogues: what a phone needs to install the app and open it offline.
"""

from __future__ import annotations

import io
import json
import re
import shutil

from PIL import Image

from server.fieldapp import assets
from server.pages import WEB_DIR

APP_JS = WEB_DIR / "static" / "app"


def sw_config(source: str) -> dict:
    match = re.search(r"const XJ = (\{.*?\});\n", source, re.S)
    assert match, "the worker carries its configuration"
    return json.loads(match.group(1))


def test_shell_is_served_uncached_with_no_inline_script(client):
    response = client.get("/app")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    html = response.text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert '<script src="/static/app/boot.js"></script>' in html
    # The CSP allows no inline script: every <script> has a src.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


def test_service_worker_is_versioned_and_precaches_every_asset(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    config = sw_config(response.text)
    assert config["version"] == assets.current_bundle().version
    precache = config["precache"]
    expected = {"/app", "/app/boot.json", "/manifest.webmanifest", "/static/vendor/htmx-2.0.11.min.js",
                "/static/vendor/jsQR-1.4.0.min.js", "/static/icons/icon-192.png", "/static/icons/icon-512.png",
                "/static/icons/icon-maskable-512.png"}
    expected |= {"/static/" + p.relative_to(WEB_DIR / "static").as_posix() for p in APP_JS.rglob("*.js")}
    assert expected <= set(precache)
    for url in precache:
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url


def test_version_is_a_content_hash_of_the_precached_files(monkeypatch, tmp_path):
    first = assets.build_bundle()
    assert assets.build_bundle().version == first.version, "same files, same version"
    copy = tmp_path / "static"
    shutil.copytree(WEB_DIR / "static", copy)
    monkeypatch.setattr(assets, "STATIC_DIR", copy)
    assert assets.build_bundle().version == first.version
    (copy / "app" / "field.css").write_text((copy / "app" / "field.css").read_text() + "\n/* new */\n")
    changed = assets.build_bundle()
    assert changed.version != first.version, "one changed byte makes a new version"
    assert changed.service_worker != first.service_worker


def test_manifest_is_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert "巡检" in manifest["name"] and manifest["short_name"] == "巡检"
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/app"
    assert manifest["theme_color"].startswith("#") and manifest["background_color"].startswith("#")
    purposes = set()
    for icon in manifest["icons"]:
        image = Image.open(io.BytesIO(client.get(icon["src"]).content))
        width, height = map(int, icon["sizes"].split("x"))
        assert image.size == (width, height) and image.format == "PNG"
        purposes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= purposes


def test_catalogues_have_every_key_the_app_uses_in_both_languages(client):
    zh = json.loads((WEB_DIR / "i18n" / "zh-CN" / "app.json").read_text(encoding="utf-8"))
    en = json.loads((WEB_DIR / "i18n" / "en" / "app.json").read_text(encoding="utf-8"))
    assert zh.keys() == en.keys()
    assert all(v.strip() for v in [*zh.values(), *en.values()])
    used = set()
    for path in APP_JS.rglob("*.js"):
        if "ext" not in path.parts:
            used |= set(re.findall(r'"(field\.[a-z_.]+)"', path.read_text(encoding="utf-8")))
    assert used and used <= zh.keys(), sorted(used - zh.keys())
    boot = client.get("/app/boot.json").json()
    assert boot["default_language"] == "zh-CN"
    for language in ("zh-CN", "en"):
        assert set(zh) <= set(boot["i18n"][language])
        assert {"role.guard", "role.technician", "app.name"} <= set(boot["i18n"][language])
    codes = {c["code"] for c in boot["categories"]}
    assert {"hazard", "dead_tree", "drain", "lighting", "fire_safety", "warning_sign", "garbage", "water_snow",
            "illegal_build", "graffiti", "pests", "road", "facility", "other"} <= codes
    assert all(c["zh"] and c["en"] and c["icon"] for c in boot["categories"])


def test_field_staff_land_in_the_app_after_login(login_as):
    client = login_as("cleaner1")
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/app"
