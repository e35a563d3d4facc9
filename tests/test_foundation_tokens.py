"""Device tokens (shared/SYNC.md, Device login): issue, use, revoke, expiry, deactivation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from conftest import DEMO_PASSWORD, device_token, login, run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_device_login_answers_token_and_user(client):
    response = client.post("/api/auth/device", json={"username": "guard1", "password": DEMO_PASSWORD,
                                                     "device_id": str(uuid.uuid4()), "device_name": "红米"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["role"] == "guard" and len(body["user"]["site_ids"]) == 1
    assert body["server_time"].endswith("+00:00")
    me = client.get("/api/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.json()["name"] == "张保安"


def test_token_is_stored_hashed(client):
    from server.staff.tables import DeviceToken

    token = device_token(client, "guard1")
    rows = run(DeviceToken.select(DeviceToken.token_hash))
    assert all(r["token_hash"] != token for r in rows)
    assert any(len(r["token_hash"]) == 64 for r in rows)


def test_bad_credentials(client):
    response = client.post("/api/auth/device", json={"username": "guard1", "password": "nope", "device_id": "d1"})
    assert response.status_code == 401 and response.json()["code"] == "bad_credentials"


def test_logged_in_browser_gets_a_token_without_password(client):
    login(client, "tech1")
    response = client.post("/api/auth/device", json={"device_id": str(uuid.uuid4()), "device_name": "browser"})
    assert response.status_code == 200 and response.json()["user"]["role"] == "technician"


def test_unknown_token(client):
    response = client.get("/api/me", headers=bearer("made-up"))
    assert response.status_code == 401 and response.json()["code"] == "bad_token"


def test_revoked_token_is_expired(client):
    from server.staff.auth import revoke_device_tokens
    from server.staff.tables import Staff

    token = device_token(client, "gardener1")
    gardener = run(Staff.objects().where(Staff.username == "gardener1").first())
    run(revoke_device_tokens(gardener.id))
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "token_expired"


def test_token_unused_for_longer_than_its_lifetime_expires(client):
    from server.secrets_box import sha256_hex
    from server.staff.auth import now
    from server.staff.tables import DeviceToken

    token = device_token(client, "cleaner1")
    run(DeviceToken.update({DeviceToken.last_used_at: now() - timedelta(days=31)}).where(
        DeviceToken.token_hash == sha256_hex(token)))
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "token_expired"


def test_token_in_use_stays_alive(client):
    from server.secrets_box import sha256_hex
    from server.staff.auth import now
    from server.staff.tables import DeviceToken

    token = device_token(client, "cleaner1")
    run(DeviceToken.update({DeviceToken.last_used_at: now() - timedelta(days=29)}).where(
        DeviceToken.token_hash == sha256_hex(token)))
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    row = run(DeviceToken.objects().where(DeviceToken.token_hash == sha256_hex(token)).first())
    assert now() - row.last_used_at < timedelta(minutes=1)


def test_deactivating_a_user_revokes_their_tokens(client, make_site):
    from server.staff.services import set_active

    env = make_site(roles=("technician",))
    tech = env["users"]["technician"]
    token = device_token(client, tech.username)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    run(set_active(tech.id, False))
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    again = client.post("/api/auth/device", json={"username": tech.username, "password": DEMO_PASSWORD, "device_id": "x"})
    assert again.status_code == 401


def test_malformed_device_login_is_a_clear_400(client):
    response = client.post("/api/auth/device", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["reason"]
    missing = client.post("/api/auth/device", json={"username": "guard1"})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"
