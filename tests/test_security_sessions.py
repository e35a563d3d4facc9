"""Sessions and device tokens under attack and under change: fixation, expiry, logout, and what an admin's
changes do to the sessions and tokens a person already holds.

tests/test_foundation_auth.py covers a planted junk cookie, logout of a stolen
cookie and a service-level password change; tests/test_admin_staff.py one
admin reset and deactivation's tokens. Here: the cases between them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

import pytest
from litestar.testing import TestClient

from admin_pages import as_admin, post
from conftest import DEMO_PASSWORD, csrf_of, device_token, login, run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def browsers(app: Any) -> Callable[[], TestClient]:
    """Extra independent browsers (each its own cookie jar).

    Not entered as context managers: the `client` fixture already runs the
    app's lifespan, and a second lifespan of the same app never shuts down.
    """
    return lambda: TestClient(app=app, base_url="http://testserver.local")


def test_a_planted_valid_session_is_not_the_victims_after_login(client, browsers, make_site):
    """An attacker plants their own live session in the victim's browser; the victim logs in."""
    env = make_site(roles=("guard", "supervisor"))
    attacker = browsers()
    login(attacker, env["users"]["guard"].username)
    planted = attacker.cookies.get("xj_session")
    client.cookies.set("xj_session", planted, domain="testserver.local")
    response = login(client, env["users"]["supervisor"].username)
    assert response.status_code == 303
    fresh = client.cookies.get("xj_session")
    assert fresh and fresh != planted
    assert client.get("/api/me").json()["role"] == "supervisor"
    # The planted token was ended at login: it names nobody, least of all the supervisor.
    attacker.cookies.clear()
    attacker.cookies.set("xj_session", planted, domain="testserver.local")
    assert attacker.get("/api/me").status_code == 401


def test_an_idle_session_expires(client, make_site):
    from server.secrets_box import sha256_hex
    from server.settings import get_settings
    from server.staff.auth import now
    from server.staff.tables import WebSession

    env = make_site(roles=("cleaner",))
    login(client, env["users"]["cleaner"].username)
    token = client.cookies.get("xj_session")
    idle = timedelta(hours=get_settings().session_hours, minutes=1)
    run(WebSession.update({WebSession.last_seen_at: now() - idle}).where(WebSession.token_hash == sha256_hex(token)))
    assert client.get("/api/me").status_code == 401
    assert client.get("/notifications", follow_redirects=False).headers["location"].startswith("/login?next=")
    assert run(WebSession.count().where(WebSession.token_hash == sha256_hex(token))) == 0


def test_logout_ends_this_browser_only_and_the_cookie_is_cleared(client, browsers, make_site):
    env = make_site(roles=("supervisor",))
    username = env["users"]["supervisor"].username
    office, phone = browsers(), browsers()
    login(office, username)
    login(phone, username)
    response = office.post("/logout", data={"_csrf_token": csrf_of(office)}, follow_redirects=False)
    assert response.status_code == 303
    assert 'xj_session=""' in response.headers["set-cookie"] or "max-age=0" in response.headers["set-cookie"].lower()
    assert office.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 200  # logging out at the office does not log out the phone


def test_admin_password_reset_ends_every_session_and_device_but_not_the_admins(client, browsers, make_site):
    env = make_site(roles=("admin", "technician"))
    tech = env["users"]["technician"]
    home, work = browsers(), browsers()
    login(home, tech.username)
    login(work, tech.username)
    tokens = [device_token(client, tech.username, device_id=f"phone-{i}") for i in range(2)]
    # A device token got through a logged-in browser (no password) is a device token like any other.
    tokens.append(work.post("/api/auth/device", json={"device_id": "browser-app"}).json()["token"])
    as_admin(client, env)
    assert post(client, f"/admin/staff/{tech.id}/password", {"password": "a-long-new-password"}).status_code == 303
    assert home.get("/api/me").status_code == 401 and work.get("/api/me").status_code == 401
    for token in tokens:
        refused = client.get("/sync/pull", headers=bearer(token))
        assert refused.status_code == 401 and refused.json()["code"] == "token_expired"
    assert client.get("/admin/staff").status_code == 200  # the admin who reset it stays logged in
    # The old password cannot mint a new token; the new one can.
    old = client.post("/api/auth/device", json={"username": tech.username, "password": DEMO_PASSWORD,
                                                "device_id": "phone-0"})
    assert old.status_code == 401
    assert device_token(client, tech.username, "a-long-new-password", device_id="phone-0")


def test_deactivation_from_the_admin_page_ends_open_sessions(client, browsers, make_site):
    env = make_site(roles=("admin", "gardener"))
    gardener = env["users"]["gardener"]
    browser = browsers()
    login(browser, gardener.username)
    assert browser.get("/app", follow_redirects=False).status_code == 200
    assert browser.get("/api/me").status_code == 200
    as_admin(client, env)
    assert post(client, f"/admin/staff/{gardener.id}/active", {"active": "0"}).status_code == 303
    assert browser.get("/api/me").status_code == 401
    assert browser.post("/api/auth/device", json={"device_id": "after"}).status_code == 401


def test_a_role_change_applies_to_sessions_and_tokens_already_open(client, browsers, make_site):
    """Roles are read on every request: a demoted supervisor loses the console at once, on every device."""
    env = make_site(roles=("admin", "supervisor"))
    person = env["users"]["supervisor"]
    site_id = env["site"].id
    browser = browsers()
    login(browser, person.username)
    token = device_token(client, person.username)
    assert browser.get(f"/console/sites/{site_id}/today").status_code == 200
    as_admin(client, env)
    demoted = post(client, f"/admin/staff/{person.id}", {"name": person.name, "role": "guard",
                                                          "sites": str(site_id)})
    assert demoted.status_code == 303, demoted.text[:300]
    assert browser.get(f"/console/sites/{site_id}/today").status_code == 403
    assert client.get("/sync/pull", headers=bearer(token)).json()["me"]["role"] == "guard"


def test_leaving_a_site_closes_it_at_once(client, browsers, make_site):
    """Taken off a site, a person's open session and token no longer reach it (404), with no new login."""
    env, elsewhere = make_site(roles=("admin", "guard")), make_site(roles=())
    guard = env["users"]["guard"]
    site_id = env["site"].id
    token = device_token(client, guard.username)
    assert client.get(f"/api/sites/{site_id}", headers=bearer(token)).status_code == 200
    as_admin(client, env)
    from server.staff.tables import StaffSite

    # The admin moves the guard to a site the admin does not manage (their own site is taken off).
    run(StaffSite.insert(StaffSite(staff=guard.id, site=elsewhere["site"].id)))
    moved = post(client, f"/admin/staff/{guard.id}", {"name": guard.name, "role": "guard"})
    assert moved.status_code == 303, moved.text[:300]
    assert client.get(f"/api/sites/{site_id}", headers=bearer(token)).status_code == 404
    pulled = client.get("/sync/pull", headers=bearer(token)).json()
    assert str(site_id) not in pulled["me"]["site_ids"]
    assert all(s["id"] != str(site_id) for s in pulled["sites"])


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "/\\/evil.example", "/\t/evil.example",
                                    "https://evil.example/", "javascript:alert(1)", "/%5C%5Cevil.example"])
def test_next_after_login_or_language_never_leaves_the_site(client, target):
    """Browsers read a backslash as a slash: "/\\evil.example" must not become a way off the site."""
    from urllib.parse import urlsplit

    for response in (client.get("/lang/en", params={"next": target}, follow_redirects=False),
                     client.post("/login", data={"username": "guard1", "password": DEMO_PASSWORD, "next": target,
                                                 "_csrf_token": csrf_of(client)}, follow_redirects=False)):
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\"))
        assert "\\" not in location and not urlsplit(location.replace("\\", "/")).netloc
