"""Staff from the admin pages: accounts, role and sites, password reset, deactivation, devices; and who may
reach /admin at all."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import TestClient

from admin_pages import as_admin, created_id, page_error, post
from conftest import DEMO_PASSWORD, device_token, login, run

ADMIN_PAGES = ["/admin/sites", "/admin/staff", "/admin/import", "/admin/audit"]


@pytest.fixture
def env(make_site):
    return make_site(roles=("admin", "guard", "supervisor"))


def pull(client, token, since=None):
    params = {"since": since} if since else {}
    return client.get("/sync/pull", params=params, headers={"Authorization": f"Bearer {token}"})


def test_only_admins_reach_the_admin_pages(app, env):
    site_pages = [f"/admin/sites/{env['site'].id}", f"/admin/sites/{env['site'].id}/checkpoints",
                  f"/admin/sites/{env['site'].id}/posters", f"/admin/sites/{env['site'].id}/templates"]
    for role in ("guard", "supervisor"):
        with TestClient(app=app, base_url="http://testserver.local") as c:
            login(c, env["users"][role].username)
            for path in ADMIN_PAGES + site_pages:
                response = c.get(path, follow_redirects=False)
                assert response.status_code == 403, (role, path)
            refused = post(c, f"/admin/sites/{env['site'].id}/figures", {"fig:sla.complaint": "1"})
            assert refused.status_code == 403
            assert post(c, "/admin/sites", {"name": "偷建小区", "level": "2"}).status_code == 403
    with TestClient(app=app, base_url="http://testserver.local") as anonymous:
        response = anonymous.get("/admin/sites", follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")
    with TestClient(app=app, base_url="http://testserver.local") as admin:
        as_admin(admin, env)
        for path in ADMIN_PAGES + site_pages:
            assert admin.get(path).status_code == 200, path


def test_create_and_edit_staff_with_role_and_sites(client, env, make_site):
    from server.staff.tables import Staff, StaffSite

    as_admin(client, env)
    site_id = env["site"].id
    username = f"new-{uuid.uuid4().hex[:6]}"
    response = post(client, "/admin/staff", {"username": username, "name": "孙保安", "role": "guard",
                                             "password": "long-enough-1", "phone": "13800000000",
                                             "sites": str(site_id)})
    person_id = created_id(response, "/admin/staff")
    person = run(Staff.objects().where(Staff.id == person_id).first())
    assert (person.name, person.role, person.phone) == ("孙保安", "guard", "13800000000")
    assert run(StaffSite.exists().where((StaffSite.staff == person_id) & (StaffSite.site == site_id)))
    assert username in client.get(f"/admin/staff?site={site_id}").text

    # Refusals: a taken username, a short password, a site that is not the admin's.
    foreign = make_site(roles=())["site"].id
    for data in ({"username": username, "name": "x", "role": "guard", "password": "long-enough-1", "sites": str(site_id)},
                 {"username": "short-pw", "name": "x", "role": "guard", "password": "short", "sites": str(site_id)},
                 {"username": "elsewhere", "name": "x", "role": "guard", "password": "long-enough-1",
                  "sites": str(foreign)},
                 {"username": "norole", "name": "x", "role": "king", "password": "long-enough-1", "sites": str(site_id)}):
        refused = post(client, "/admin/staff", data)
        assert refused.status_code == 400 and page_error(refused), data
    assert not run(Staff.exists().where(Staff.username.is_in(["short-pw", "elsewhere", "norole"])))

    # A phone pulls, then the person's role changes: the next pull is a full snapshot of the new role.
    token = device_token(client, username, "long-enough-1")
    first = pull(client, token).json()
    assert {t["role"] for t in first["templates"]} == {"guard"}
    response = post(client, f"/admin/staff/{person_id}", {"name": "孙保洁", "role": "cleaner", "phone": "",
                                                          "language": "en", "sites": str(site_id)})
    assert response.status_code == 303
    changed = run(Staff.objects().where(Staff.id == person_id).first())
    assert changed.sites_seq > person.sites_seq and (changed.name, changed.role, changed.language) == (
        "孙保洁", "cleaner", "en")
    second = pull(client, token, first["cursor"]).json()
    assert second["full"] is True and {t["role"] for t in second["templates"]} == {"cleaner"}


def test_changing_someones_sites_makes_their_next_pull_a_full_snapshot(client, env):
    from server.sites.tables import Site
    from server.staff.tables import Staff, StaffSite

    as_admin(client, env)
    guard = env["users"]["guard"]
    second_site = post(client, "/admin/sites", {"name": f"第二小区-{uuid.uuid4().hex[:4]}", "level": "2"})
    second_id = created_id(second_site, "/admin/sites")
    token = device_token(client, guard.username)
    first = pull(client, token).json()
    assert [s["id"] for s in first["sites"]] == [str(env["site"].id)]
    before = run(Staff.select(Staff.sites_seq).where(Staff.id == guard.id).first())["sites_seq"]
    response = post(client, f"/admin/staff/{guard.id}", {"name": guard.name, "role": "guard", "phone": "",
                                                         "language": "", "sites": [str(env["site"].id), second_id]})
    assert response.status_code == 303
    assert run(Staff.select(Staff.sites_seq).where(Staff.id == guard.id).first())["sites_seq"] > before
    assert run(StaffSite.count().where(StaffSite.staff == guard.id)) == 2
    second = pull(client, token, first["cursor"]).json()
    assert second["full"] is True
    assert {s["id"] for s in second["sites"]} == {str(env["site"].id), second_id}
    # Removing a site takes it off the phone at the next pull.
    post(client, f"/admin/staff/{guard.id}", {"name": guard.name, "role": "guard", "phone": "", "language": "",
                                              "sites": second_id})
    third = pull(client, token, second["cursor"]).json()
    assert [s["id"] for s in third["sites"]] == [second_id]
    assert run(Site.exists().where(Site.id == env["site"].id))


def test_deactivating_revokes_device_tokens_at_once(client, env):
    from server.staff.auth import device_user
    from server.errors import Unauthorized

    as_admin(client, env)
    guard = env["users"]["guard"]
    token = device_token(client, guard.username)
    assert pull(client, token).status_code == 200
    response = post(client, f"/admin/staff/{guard.id}/active", {"active": "0"})
    assert response.status_code == 303
    refused = pull(client, token)
    assert refused.status_code == 401 and refused.json()["code"] == "token_expired"
    with pytest.raises(Unauthorized) as caught:
        run(device_user(token))
    assert caught.value.code == "token_expired"
    # They cannot log in either, until reactivated.
    assert login(client, guard.username).status_code == 401
    as_admin(client, env)
    assert "已停用" in client.get(f"/admin/staff/{guard.id}").text
    post(client, f"/admin/staff/{guard.id}/active", {"active": "1"})
    assert login(client, guard.username).status_code == 303


def test_an_admin_cannot_lock_themselves_out(client, env):
    from server.staff.tables import Staff

    as_admin(client, env)
    admin = env["users"]["admin"]
    refused = post(client, f"/admin/staff/{admin.id}/active", {"active": "0"})
    assert refused.status_code == 409 and page_error(refused)
    demoted = post(client, f"/admin/staff/{admin.id}", {"name": admin.name, "role": "guard", "phone": "",
                                                        "language": "", "sites": str(env["site"].id)})
    assert demoted.status_code == 409
    assert run(Staff.select(Staff.role, Staff.active).where(Staff.id == admin.id).first()) == {
        "role": "admin", "active": True}


def test_password_reset_ends_sessions_and_device_tokens(app, client, env):
    guard = env["users"]["guard"]
    token = device_token(client, guard.username)
    with TestClient(app=app, base_url="http://testserver.local") as guard_browser:
        login(guard_browser, guard.username)
        assert guard_browser.get("/api/me").status_code == 200
        as_admin(client, env)
        short = post(client, f"/admin/staff/{guard.id}/password", {"password": "short"})
        assert short.status_code == 400
        assert guard_browser.get("/api/me").status_code == 200
        assert post(client, f"/admin/staff/{guard.id}/password", {"password": "brand-new-pass"}).status_code == 303
        assert guard_browser.get("/api/me").status_code == 401
    assert pull(client, token).json()["code"] == "token_expired"
    assert login(client, guard.username, DEMO_PASSWORD).status_code == 401
    assert login(client, guard.username, "brand-new-pass").status_code == 303


def test_devices_are_listed_and_one_can_be_logged_out(client, env):
    from server.staff.tables import DeviceToken

    guard = env["users"]["guard"]
    kept = device_token(client, guard.username, device_id="phone-kept")
    dropped = device_token(client, guard.username, device_id="phone-dropped")
    pull(client, kept)
    as_admin(client, env)
    html = client.get(f"/admin/staff/{guard.id}").text
    assert html.count("pytest phone") == 2 and "从未" in html  # one device never synced
    row = run(DeviceToken.objects().where((DeviceToken.staff == guard.id) & (DeviceToken.device_id == "phone-dropped")).first())
    assert post(client, f"/admin/staff/{guard.id}/devices/{row.id}/logout").status_code == 303
    assert pull(client, dropped).json()["code"] == "token_expired"
    assert pull(client, kept).status_code == 200
    assert "已退出" in client.get(f"/admin/staff/{guard.id}").text


def test_staff_of_other_sites_are_out_of_reach(client, env, make_site):
    other = make_site(roles=("guard",))
    as_admin(client, env)
    stranger = other["users"]["guard"]
    assert stranger.username not in client.get("/admin/staff").text
    assert client.get(f"/admin/staff/{stranger.id}").status_code == 404
    assert post(client, f"/admin/staff/{stranger.id}/active", {"active": "0"}).status_code == 404
