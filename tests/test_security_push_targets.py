"""Web Push endpoints are URLs a logged-in person hands the server, which then POSTs to them: in production
(an https PUBLIC_URL) none may point into the server's own network."""

from __future__ import annotations

import base64
from typing import Iterator

import pytest

P256DH = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode().rstrip("=")
AUTH = base64.urlsafe_b64encode(b"\x02" * 16).decode().rstrip("=")


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from server.settings import get_settings

    monkeypatch.setenv("XUNJIAN_PUBLIC_URL", "https://xunjian.example.com")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("endpoint", [
    "https://127.0.0.1/push", "https://localhost:8443/x", "https://10.1.2.3/x", "https://192.168.0.10/x",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/x", "https://[fd00::5]/x", "https://2130706433/x",
    "https://127.1/x", "https://0x7f.1/x", "https://db.internal/x", "https://printer.local/x",
    "http://fcm.googleapis.com/fcm/send/abc",  # plain http is for development only
])
def test_production_refuses_endpoints_inside_the_network(production: None, endpoint: str) -> None:
    from server.errors import Invalid
    from server.notify.subscriptions import check

    with pytest.raises(Invalid) as refused:
        check(endpoint, P256DH, AUTH)
    assert refused.value.code == "bad_subscription"


@pytest.mark.parametrize("endpoint", [
    "https://fcm.googleapis.com/fcm/send/abc:def", "https://updates.push.services.mozilla.com/wpush/v2/x",
    "https://web.push.apple.com/QGx", "https://1.2.3.4/push",
])
def test_production_accepts_push_services(production: None, endpoint: str) -> None:
    from server.notify.subscriptions import check

    check(endpoint, P256DH, AUTH)


def test_development_may_push_to_a_local_service() -> None:
    """On plain http (tests, a laptop) a push service on loopback is allowed, as the notify tests use one."""
    from server.notify.subscriptions import check
    from server.settings import get_settings

    assert get_settings().public_url.startswith("http://")
    check("http://127.0.0.1:9/push/abc", P256DH, AUTH)
