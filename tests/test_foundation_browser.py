"""The first thing a new user does, in a real Chromium: the login page in Chinese, then home."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_login_page_in_chinese_then_supervisor_lands_on_console(page, live_server):
    page.goto(f"{live_server.url}/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_label("用户名").is_visible()
    page.get_by_label("用户名").fill("supervisor1")
    page.get_by_label("密码").fill("wrong")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误"
    page.get_by_label("密码").fill("xunjian-demo")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/console**")
    assert "陈主管" in page.locator("header").inner_text()


def test_guard_logs_in_and_lands_on_the_field_app(page, live_server):
    page.goto(f"{live_server.url}/")
    page.wait_for_url("**/login")
    page.get_by_label("用户名").fill("guard1")
    page.get_by_label("密码").fill("xunjian-demo")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/app**")
    page.locator("#app").wait_for(state="visible")
    assert "张保安" in page.locator("#app").inner_text(timeout=15000) or page.get_by_text("张保安").first.is_visible()
