"""Login, logout, CSRF and the login rate limit, as a browser (cookies, forms) would meet them."""

from __future__ import annotations

from conftest import csrf_of, login


def test_login_page_is_chinese_by_default(client):
    html = client.get("/login").text
    assert '<html lang="zh-CN">' in html
    assert "用户名" in html and "密码" in html


def test_login_success_lands_on_role_home(client):
    response = login(client, "guard1")
    assert response.status_code == 303
    assert response.headers["location"] == "/app"
    cookie = response.headers["set-cookie"]
    assert "xj_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
