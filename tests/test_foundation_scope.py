"""Role and site scoping: people see and act on their own sites only."""

from __future__ import annotations

import uuid

from conftest import device_token, login


def test_guard_sees_only_own_sites(client, make_site, demo_site):
    other = make_site()
    login(client, "guard1")
    sites = client.get("/api/sites").json()
    assert [s["name"] for s in sites] == ["阳光花园"]
    assert client.get(f"/api/sites/{demo_site.id}").status_code == 200
    response = client.get(f"/api/sites/{other['site'].id}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_device_token_is_scoped_too(client, make_site):
    env = make_site()
    token = device_token(client, env["users"]["guard"].username)
    headers = {"Authorization": f"Bearer {token}"}
    sites = client.get("/api/sites", headers=headers).json()
    assert [s["id"] for s in sites] == [str(env["site"].id)]
    demo = client.get("/api/sites", headers={"Authorization": f"Bearer {device_token(client, 'guard1')}"}).json()[0]
    assert client.get(f"/api/sites/{demo['id']}", headers=headers).status_code == 404


def test_site_detail_never_reveals_poster_secrets(client, demo_site):
    login(client, "guard1")
    detail = client.get(f"/api/sites/{demo_site.id}").json()
    assert len(detail["checkpoints"]) >= 12
    text = client.get(f"/api/sites/{demo_site.id}").text
    assert "XJ-DEMO" not in text and "secret" not in text
    assert all(len(c["qr_hash"]) == 64 for c in detail["checkpoints"])


def test_unknown_site_id_is_404_not_500(client):
    login(client, "admin")
    assert client.get(f"/api/sites/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/sites/not-a-uuid").status_code in (400, 404)


def test_require_site_forbids_wrong_role(make_site):
    import pytest

    from conftest import run
    from server.errors import Forbidden
    from server.staff.services import require_site

    env = make_site()
    with pytest.raises(Forbidden):
        run(require_site(env["users"]["guard"], env["site"].id, roles=("supervisor", "admin")))
    run(require_site(env["users"]["supervisor"], env["site"].id, roles=("supervisor", "admin")))


def test_anonymous_api_is_401_json_and_pages_redirect(client):
    response = client.get("/api/me")
    assert response.status_code == 401 and response.json()["code"] == "login_required"
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


def test_unknown_pages_and_api_paths(client):
    assert client.get("/api/nothing-here").json()["code"] == "not_found"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and "找不到该页面" in page.text
