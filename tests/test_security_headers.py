"""Security headers on every response, no inline script anywhere, and the cookies' flags.

Every GET route of the route table is fetched (as an admin, as a guard and as
nobody) and every answer, page or not, must carry the strict CSP and its
companions; every HTML answer must also be free of inline code, which the CSP
would block in the browser (a page that relies on it is broken, not merely
unsafe). The templates and static HTML are scanned the same way, so a branch a
request did not render is covered too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient

from conftest import DEMO_PASSWORD, ROOT, login, run
from security_support import ANON, app_routes, fill, params_for, site_world

WEB = ROOT / "web"


def directives(policy: str) -> dict[str, list[str]]:
    parts = [p.split() for p in policy.split(";") if p.strip()]
    return {p[0].lower(): p[1:] for p in parts}


def assert_security_headers(response: Any, where: str) -> None:
    headers = response.headers
    policy = directives(headers.get("content-security-policy", ""))
    assert policy, f"{where}: no Content-Security-Policy"
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], f"{where}: script-src {scripts}"  # no inline, no eval, no CDN
    assert policy["default-src"] == ["'self'"], where
    assert policy["object-src"] == ["'none'"], where
    assert policy["frame-ancestors"] == ["'none'"], where
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"], where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), where
    assert headers.get("x-frame-options") == "DENY", where


class InlineCode(HTMLParser):
    """Collects what a strict CSP would refuse to run: inline <script>, on*= handlers, javascript: URLs, hx-on."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            kind = (names.get("type") or "").lower()
            # JSON data blocks are data, not code; a script without src is inline code.
            self._in_inline_script = "src" not in names and kind not in ("application/json", "application/ld+json")
            if self._in_inline_script:
                self.problems.append("inline <script>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"<{tag} {name}=...> (htmx would need eval)")
            if value and value.strip().lower().startswith(("javascript:", "js:")):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.problems


@pytest.fixture(scope="module")
def pages(app: Any) -> Iterator[tuple[TestClient, Any, Any, dict[str, str]]]:
    from server.staff.auth import create_session

    own, other = run(site_world()), run(site_world())
    sessions = {role: run(create_session(own.users[role])) for role in ("admin", "guard")}
    with TestClient(app=app, base_url="http://testserver.local") as client:
        yield client, own, other, sessions


def test_every_get_route_answers_with_the_security_headers(app: Any, pages: Any) -> None:
    client, own, other, sessions = pages
    html_pages = 0
    checked = 0
    for method, path in app_routes(app):
        if method not in ("GET", "HEAD"):
            continue
        for who in ("admin", "guard", ANON):
            client.cookies.clear()
            concrete = fill(path, params_for(path, "own", who, own, other))
            headers = {"Cookie": f"xj_session={sessions[who]}"} if who != ANON else {}
            response = client.request(method, concrete, headers=headers, follow_redirects=False)
            where = f"{method} {concrete} as {who} ({response.status_code})"
            assert response.status_code < 500, where
            assert_security_headers(response, where)
            checked += 1
            if method == "GET" and response.headers.get("content-type", "").startswith("text/html"):
                html_pages += 1
                assert not inline_code(response.text), f"{where}: {inline_code(response.text)}"
    print(f"security headers: {checked} answers, {html_pages} HTML pages free of inline code")
    assert html_pages > 60


def test_error_answers_carry_the_headers_too(client: TestClient) -> None:
    for response in (client.get("/nothing-here"), client.get("/api/nothing-here"), client.get("/api/me"),
                     client.post("/login", data={"username": "x"})):  # 404 page, 404 JSON, 401 JSON, 403 CSRF page
        assert response.status_code in (401, 403, 404)
        assert_security_headers(response, f"{response.request.url} ({response.status_code})")


def test_refusals_say_what_would_be_accepted(client: TestClient, make_site: Any) -> None:
    """A 405 names the allowed methods (Allow); a rate-limited login says when to come back (Retry-After)."""
    wrong_method = client.delete("/api/me")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"].replace(" ", "").split(",")
    assert wrong_method.json()["code"] == "method_not_allowed"
    guard = make_site(roles=("guard",))["users"]["guard"]
    for _ in range(5):
        client.post("/api/auth/device", json={"username": guard.username, "password": "wrong", "device_id": "d"})
    limited = client.post("/api/auth/device", json={"username": guard.username, "password": DEMO_PASSWORD,
                                                    "device_id": "d"})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "900"


def test_no_template_or_static_page_has_inline_code() -> None:
    files = sorted([*WEB.glob("templates/**/*.html"), *[p for p in WEB.glob("static/**/*.html")
                                                        if "vendor" not in p.parts]])
    assert len(files) > 30
    problems = {}
    for path in files:
        # Jinja blocks can sit inside tags; blank them so the HTML parser sees plain markup.
        text = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S)
        found = inline_code(text)
        if found:
            problems[str(path.relative_to(ROOT))] = found
    assert not problems, problems


def test_the_scanner_sees_what_the_csp_would_block() -> None:
    """The scanner itself: each kind of inline code is caught, external scripts and JSON data are not."""
    assert inline_code('<script src="/static/app/main.js"></script><script type="application/json">{}</script>') == []
    assert len(inline_code("<script>alert(1)</script>")) == 1
    assert len(inline_code('<button onclick="go()">x</button>')) == 1
    assert len(inline_code('<a href="javascript:go()">x</a>')) == 1
    assert len(inline_code('<form hx-on::after-request="go()"></form>')) == 1


def _cookies_of(response: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, lower-cased for flag checks."""
    return {line.split("=", 1)[0].strip(): line.lower() for line in response.headers.get_list("set-cookie")}


@pytest.fixture
def app_with(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An app built with some settings changed (settings are read once, so the cache is reset around it)."""
    from server.app import create_app
    from server.settings import get_settings

    def build(**env: str) -> Any:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return create_app()

    yield build
    monkeypatch.undo()
    get_settings.cache_clear()


def _login_cookies(app: Any, base_url: str) -> dict[str, str]:
    with TestClient(app=app, base_url=base_url) as client:
        page = client.get("/login")
        csrf = _cookies_of(page)
        response = login(client, "guard1", DEMO_PASSWORD)
        assert response.status_code == 303, response.text
        language = client.get("/lang/en?next=/login", follow_redirects=False)
        return {**csrf, **_cookies_of(response), **_cookies_of(language)}


@pytest.mark.parametrize("env, secure", [
    ({"XUNJIAN_PUBLIC_URL": "https://xunjian.example.com", "XUNJIAN_SECURE_COOKIES": "auto"}, True),
    ({"XUNJIAN_PUBLIC_URL": "http://192.168.1.10:8000", "XUNJIAN_SECURE_COOKIES": "true"}, True),
    ({"XUNJIAN_PUBLIC_URL": "https://xunjian.example.com", "XUNJIAN_SECURE_COOKIES": "false"}, False),
    ({"XUNJIAN_PUBLIC_URL": "http://127.0.0.1:8000", "XUNJIAN_SECURE_COOKIES": "auto"}, False),
])
def test_cookie_flags(app_with: Any, env: dict[str, str], secure: bool) -> None:
    base_url = "https://testserver.local" if secure else "http://testserver.local"
    cookies = _login_cookies(app_with(**env), base_url)
    assert {"xj_session", "xj_csrf", "xj_lang"} <= cookies.keys(), cookies.keys()
    for name, line in cookies.items():
        assert ("; secure" in line) is secure, f"{name}: {line}"
        assert "samesite=lax" in line or "samesite=strict" in line, f"{name}: {line}"
    # The session and CSRF cookies are out of reach of scripts; the language is a preference the
    # offline app reads and writes itself (no secret in it).
    assert "httponly" in cookies["xj_session"] and "httponly" in cookies["xj_csrf"]

