"""The notification endpoints as the console and the phone use them: the VAPID key, subscribing
(session + CSRF, idempotent, several devices), the inbox page with its unread count, muting, and the
inbox travelling to the phone in /sync/pull."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from typing import Any

from conftest import DATA_DIR, csrf_of, run
from notify_loopback import Subscriber, b64url
from phone import Phone
from server.notify import subscriptions
from server.notify.inbox import json_value
from server.notify.tables import Notification, PushSubscription
from server.rectifications.services import report_finding
from server.staff.tables import Staff


def emergency(site: dict[str, Any]) -> uuid.UUID:
    finding_id = uuid.uuid4()
    run(report_finding(site["users"]["guard"], finding_id, site["site"].id, "fire_safety", "emergency"))
    return finding_id


def test_the_vapid_public_key_is_made_once_and_kept_in_the_data_directory(client):
    first = client.get("/api/push/key")
    assert first.status_code == 200
    key = first.json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point: what PushManager.subscribe wants
    assert client.get("/api/push/key").json()["public_key"] == key
    pem = DATA_DIR / "vapid_private.pem"
    assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600


def test_subscribing_needs_a_session_and_the_csrf_token(client, make_site):
    site = make_site(roles=("supervisor",))
    browser = Subscriber("https://push.example.net/send/abc")
    anonymous = client.post("/api/push/subscribe", json=browser.as_json(), headers={"x-csrftoken": csrf_of(client)})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "login_required"

    client.post("/login", data={"username": site["users"]["supervisor"].username, "password": "xunjian-demo",
                                "_csrf_token": csrf_of(client)})
    forged = client.post("/api/push/subscribe", json=browser.as_json())
    assert forged.status_code == 403 and forged.json()["code"] == "csrf"
    assert run(subscriptions.devices_of(site["users"]["supervisor"].id)) == []


def test_subscribing_again_changes_nothing_and_each_device_counts_once(client, login_as, make_site):
    site = make_site(roles=("supervisor",))
    supervisor = site["users"]["supervisor"]
    login_as(supervisor.username)
    headers = {"x-csrftoken": csrf_of(client, "/notifications")}
    desktop, laptop = Subscriber("https://push.example.net/send/desk"), Subscriber("https://push.example.net/send/lap")

    for _ in range(3):  # the page re-sends its subscription on every visit
        answer = client.post("/api/push/subscribe", json=desktop.as_json(), headers=headers)
        assert answer.status_code == 200 and answer.json() == {"subscribed": True, "devices": 1}
    assert client.post("/api/push/subscribe", json=laptop.as_json(), headers=headers).json()["devices"] == 2

    gone = client.post("/api/push/unsubscribe", json={"endpoint": desktop.endpoint}, headers=headers)
    assert gone.json() == {"removed": 1, "devices": 1}
    assert [s.endpoint for s in run(subscriptions.devices_of(supervisor.id))] == [laptop.endpoint]


def test_a_malformed_subscription_is_refused_and_stores_nothing(client, login_as, make_site):
    site = make_site(roles=("supervisor",))
    login_as(site["users"]["supervisor"].username)
    headers = {"x-csrftoken": csrf_of(client, "/notifications")}
    good = Subscriber("https://push.example.net/send/ok").as_json()
    bad_bodies = [
        {**good, "keys": {"p256dh": "not-a-key", "auth": good["keys"]["auth"]}},
        {**good, "keys": {"p256dh": good["keys"]["p256dh"], "auth": b64url(b"short")}},
        {**good, "endpoint": "ftp://push.example.net/x"},
        {**good, "endpoint": "/relative"},
        {"endpoint": good["endpoint"]},
    ]
    for body in bad_bodies:
        answer = client.post("/api/push/subscribe", json=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["code"] in ("bad_subscription", "invalid")
    assert client.post("/api/push/subscribe", content=b"{not json", headers={
        **headers, "content-type": "application/json"}).status_code == 400
    assert not run(PushSubscription.exists().where(PushSubscription.staff == site["users"]["supervisor"].id))


def test_the_inbox_lists_notifications_with_an_unread_count_and_opening_one_reads_it(client, login_as, make_site):
    site = make_site(roles=("guard", "supervisor"))
    first, second = emergency(site), emergency(site)
    login_as(site["users"]["supervisor"].username)

    page = client.get("/notifications")
    assert page.status_code == 200
    assert page.text.count("紧急问题 · 消防通道/器材") == 2
    assert 'data-unread="2"' in page.text
    assert 'data-unread="2"' in client.get("/notifications/badge").text
    assert client.get("/api/notifications").json()["unread"] == 2

    row = run(Notification.objects().where(Notification.event_key == f"emergency:{first}").first())
    opened = client.get(f"/notifications/{row.id}/open", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/console/sites/{site['site'].id}/rectifications/{first}"
    assert 'data-unread="1"' in client.get("/notifications/badge").text

    client.post("/notifications/read", data={"_csrf_token": csrf_of(client, "/notifications")})
    assert 'data-unread="0"' in client.get("/notifications/badge").text
    assert {i["read"] for i in client.get("/api/notifications").json()["items"]} == {True}
    assert run(Notification.count().where(Notification.event_key == f"emergency:{second}")) == 1


def test_nobody_opens_someone_elses_notification(client, login_as, make_site):
    site = make_site(roles=("guard", "supervisor", "admin"))
    emergency(site)
    theirs = run(Notification.objects().where(Notification.staff == site["users"]["admin"].id).first())
    login_as(site["users"]["supervisor"].username)
    assert client.get(f"/notifications/{theirs.id}/open", follow_redirects=False).status_code == 404
    assert client.get("/notifications/not-a-uuid/open", follow_redirects=False).status_code == 404
    assert run(Notification.objects().where(Notification.id == theirs.id).first()).read_at is None


def test_muting_is_saved_per_person_from_the_inbox_page(client, login_as, make_site):
    site = make_site(roles=("supervisor",))
    supervisor = site["users"]["supervisor"]
    login_as(supervisor.username)
    token = csrf_of(client, "/notifications")
    saved = client.post("/notifications/muted", data={"mute": ["digest", "missed_slot"], "_csrf_token": token},
                        follow_redirects=False)
    assert saved.status_code == 303
    person = run(Staff.objects().where(Staff.id == supervisor.id).first())
    assert sorted(json_value(person.muted, [])) == ["digest", "missed_slot"]
    page = client.get("/notifications?saved=1").text
    assert 'value="digest" checked' in page and 'value="emergency" checked' not in page
    refused = client.post("/notifications/muted", data={"mute": "everything", "_csrf_token": token})
    assert refused.status_code == 400


def test_the_phone_pulls_its_inbox_and_marks_it_read_with_its_device_token(client, make_site):
    site = make_site(roles=("guard", "supervisor"))
    phone = Phone(client, site["users"]["supervisor"].username).login()
    phone.pull(full=True)
    rect_id = emergency(site)

    [note] = phone.pull()["notifications"]
    assert note["kind"] == "emergency" and note["read"] is False
    assert note["url"] == f"/console/sites/{site['site'].id}/rectifications/{rect_id}"

    assert client.post("/api/notifications/read", json={"ids": [note["id"]]}).status_code == 401
    marked = client.post("/api/notifications/read", json={"ids": [note["id"]]}, headers=phone.headers())
    assert marked.status_code == 200 and marked.json() == {"marked": 1, "unread": 0}
    [again] = phone.pull()["notifications"]
    assert again["id"] == note["id"] and again["read"] is True


def test_the_phone_subscribes_with_the_push_subscribe_op(client, make_site):
    site = make_site(roles=("guard",))
    phone = Phone(client, site["users"]["guard"].username).login()
    browser = Subscriber("https://fcm.googleapis.com/fcm/send/phone-1")
    for _ in range(2):  # re-sent on every app open
        phone.enqueue("push.subscribe", {"endpoint": browser.endpoint,
                                         "keys": {"p256dh": browser.p256dh, "auth": b64url(browser.auth)}})
    answers = phone.push()
    assert [a["status"] for a in answers] == ["applied", "applied"]
    assert [s.endpoint for s in run(subscriptions.devices_of(site["users"]["guard"].id))] == [browser.endpoint]


def test_every_console_page_shows_the_inbox_link_with_its_unread_count(client, login_as, make_site):
    site = make_site(roles=("guard", "supervisor"))
    emergency(site)
    assert 'data-unread="0"' in client.get("/notifications/badge").text  # logged out: empty, not the login page
    login_as(site["users"]["supervisor"].username)
    today = client.get(f"/console/sites/{site['site'].id}/today")
    assert today.status_code == 200
    assert 'href="/notifications" hx-get="/notifications/badge"' in today.text
    assert 'data-unread="1"' in client.get("/notifications/badge").text
    inbox_page = client.get("/notifications").text
    assert "/static/css/console.css" in inbox_page and "/static/notify/notify.css" in inbox_page


def test_marking_read_refuses_garbage_and_oversized_lists(client, make_site):
    site = make_site(roles=("guard", "supervisor"))
    emergency(site)
    phone = Phone(client, site["users"]["supervisor"].username).login()
    for body in ({"ids": ["not-a-uuid"]}, {"ids": [str(uuid.uuid4())] * 501}, {"ids": "all"}):
        answer = client.post("/api/notifications/read", json=body, headers=phone.headers())
        assert answer.status_code == 400, body
    assert client.get("/api/notifications").status_code == 401
    assert run(Notification.count().where(
        (Notification.staff == site["users"]["supervisor"].id) & Notification.read_at.is_null())) == 1
    everything = client.post("/api/notifications/read", json={}, headers=phone.headers())
    assert everything.json() == {"marked": 1, "unread": 0}
