"""Login, logout, sessions, CSRF and the login rate limit, as a browser meets them."""

from __future__ import annotations

import uuid

from conftest import DEMO_PASSWORD, csrf_of, login, run


def test_login_page_is_chinese_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text
    assert "用户名" in response.text and "密码" in response.text


def test_language_switch_to_english(client):
    client.get("/lang/en?next=/login")
    html = client.get("/login").text
    assert '<html lang="en">' in html and "Username" in html


def test_login_lands_each_role_on_its_home(client):
    for username, home in (("guard1", "/app"), ("tech1", "/app"), ("supervisor1", "/console"), ("admin", "/console")):
        client.cookies.clear()
        response = login(client, username)
        assert response.status_code == 303, username
        assert response.headers["location"] == home


def test_session_cookie_flags(client):
    response = login(client, "cleaner1")
    cookie = response.headers["set-cookie"].lower()
    assert "xj_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie


def test_wrong_password_is_refused_in_chinese(client):
    response = login(client, "gardener1", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "xj_session" not in response.headers.get("set-cookie", "")


def test_login_after_form_is_open_redirect_safe(client):
    token = csrf_of(client)
    response = client.post("/login", data={"username": "guard1", "password": DEMO_PASSWORD, "_csrf_token": token,
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/app"


def test_rate_limit_locks_the_name_even_with_the_right_password(client, make_site):
    from server.staff.services import create_staff

    name = f"ratelimited-{uuid.uuid4().hex[:6]}"
    run(create_staff(name, "限流测试", "guard", DEMO_PASSWORD))
    for _ in range(5):
        assert login(client, name, "wrong-password").status_code == 401
    blocked = login(client, name, DEMO_PASSWORD)
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.text
    # Other people are not locked out by someone else's failures.
    assert login(client, "guard1").status_code == 303


def test_rate_limit_per_address():
    from server.errors import RateLimited
    from server.settings import get_settings
    from server.staff.auth import check_rate_limit, record_failure

    address = f"203.0.113.{uuid.uuid4().int % 250}"

    async def go():
        for i in range(get_settings().login_max_attempts_per_address):
            await record_failure(f"someone-{i}", address)
        try:
            await check_rate_limit("fresh-name", address)
        except RateLimited:
            return True
        return False

    assert run(go())


def test_logout_ends_the_session(client):
    login(client, "supervisor1")
    old_cookie = client.cookies.get("xj_session")
    assert client.get("/api/me").status_code == 200
    token = csrf_of(client, "/login")
    response = client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    client.cookies.set("xj_session", old_cookie, domain="testserver.local")  # a stolen copy of the old cookie is dead too
    assert client.get("/api/me").status_code == 401


def test_session_fixation_a_planted_cookie_is_not_promoted(client):
    client.cookies.set("xj_session", "planted-by-attacker", domain="testserver.local")
    login(client, "guard1")
    assert client.cookies.get("xj_session") != "planted-by-attacker"


def test_form_post_without_csrf_token_is_rejected(client):
    client.get("/login")  # has the CSRF cookie, but the form field is missing
    response = client.post("/login", data={"username": "guard1", "password": DEMO_PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "页面已过期" in response.text
    assert "xj_session" not in response.headers.get("set-cookie", "")


def test_logout_without_csrf_token_is_rejected(client):
    login(client, "guard1")
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/api/me").status_code == 200


def test_inactive_user_cannot_log_in(client, make_site):
    from server.staff.services import set_active

    env = make_site(roles=("guard",))
    guard = env["users"]["guard"]
    run(set_active(guard.id, False))
    response = login(client, guard.username)
    assert response.status_code == 401


def test_password_change_ends_existing_sessions(client, make_site):
    from server.staff.services import set_password

    env = make_site(roles=("cleaner",))
    cleaner = env["users"]["cleaner"]
    login(client, cleaner.username)
    assert client.get("/api/me").status_code == 200
    run(set_password(cleaner.id, "a-new-password-123"))
    assert client.get("/api/me").status_code == 401
