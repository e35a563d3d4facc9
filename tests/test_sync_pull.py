"""GET /sync/pull: full snapshots, incremental changes, the cursor, deletions and scope."""

from __future__ import annotations

import json

import pytest

from conftest import run
from phone import Phone


@pytest.fixture
def site(make_site):
    return make_site()


def phone(client, site, role) -> Phone:
    return Phone(client, site["users"][role].username).login()


def test_full_snapshot_has_what_the_phone_needs_and_no_secrets(client, site):
    guard = phone(client, site, "guard")
    body = guard.pull()
    assert body["full"] is True and body["cursor"].startswith("v1.")
    assert body["me"] == {"id": str(site["users"]["guard"].id), "name": site["users"]["guard"].name,
                          "role": "guard", "site_ids": [str(site["site"].id)]}
    assert [s["id"] for s in body["sites"]] == [str(site["site"].id)]
    assert body["sites"][0]["level"] == 2 and body["sites"][0]["timezone"] == "Asia/Shanghai"
    assert [z["name"] for z in body["zones"]] == ["1号楼"]
    assert len(body["checkpoints"]) == len(site["checkpoints"])
    text = json.dumps(body, ensure_ascii=False)
    for cp in site["checkpoints"]:
        assert cp["secret"] not in text and f'"{cp["code"]}"' not in text
    by_id = {c["id"]: c for c in body["checkpoints"]}
    from server.secrets_box import sha256_hex

    core = site["checkpoints"][0]
    assert by_id[str(core["checkpoint"].id)]["qr_hash"] == sha256_hex(core["secret"])
    assert {t["role"] for t in body["templates"]} == {"guard"}
    patrol = next(t for t in body["templates"] if t["code"] == "patrol.core")
    assert patrol["proof"] == "qr" and patrol["items"]
    assert {"checkpoint_id", "checks"} <= set(patrol["items"][0])
    assert {"id", "label_zh", "label_en"} <= set(patrol["items"][0]["checks"][0])
    assert any(d["template_id"] == patrol["id"] and d["status"] in ("pending", "missed") for d in body["due"])
    assert {s["role"] for s in body["staff"]} == {"guard", "cleaner", "gardener", "technician", "supervisor", "admin"}
    assert body["deleted"] == [] and body["rectifications"] == [] and body["notifications"] == []


def test_supervisors_get_every_template_of_their_sites(client, site):
    body = phone(client, site, "supervisor").pull()
    assert {t["role"] for t in body["templates"]} == {"guard", "cleaner", "gardener"}


def test_incremental_pull_carries_only_changes_and_always_me_and_due(client, site):
    guard, tech = phone(client, site, "guard"), phone(client, site, "technician")
    guard.pull()
    tech.pull()
    quiet = guard.pull()
    assert quiet["full"] is False
    for name in ("sites", "zones", "checkpoints", "templates", "rectifications", "staff", "notifications", "deleted"):
        assert quiet[name] == [], name
    assert quiet["me"]["id"] == str(site["users"]["guard"].id) and quiet["due"]
    assert quiet["settings"] == {"grace_minutes": 15}  # the phone judges offline rounds with the server's grace

    rect_id = guard.report(str(site["site"].id), "drain", note="井盖堵塞")
    guard.push()
    seen = tech.pull()
    assert [r["id"] for r in seen["rectifications"]] == [rect_id]
    rect = seen["rectifications"][0]
    assert rect["state"] == "open" and rect["note"] == "井盖堵塞" and rect["due_at"] and rect["assignee_id"] is None
    tech.transition(rect_id, "start")
    tech.push()
    changed = guard.pull()["rectifications"]
    assert [(r["id"], r["state"], r["assignee_id"]) for r in changed] == [
        (rect_id, "in_progress", str(site["users"]["technician"].id))]
    assert guard.pull()["rectifications"] == []


def test_unreadable_or_future_cursor_gives_a_full_snapshot(client, site):
    guard = phone(client, site, "guard")
    cursor = guard.pull()["cursor"]
    position = int(cursor.split(".")[1])
    for since in ("garbage", "v1.", "v1.-4", "v2.5", f"v1.{position + 1000}", "v1." + "9" * 30):
        body = client.get("/sync/pull", params={"since": since}, headers=guard.headers()).json()
        assert body["full"] is True and body["sites"], since
    assert client.get("/sync/pull", params={"since": cursor}, headers=guard.headers()).json()["full"] is False


def test_a_changed_site_set_gives_a_full_snapshot(client, site, make_site):
    from server.changes import next_position
    from server.db import write_transaction
    from server.staff.tables import Staff, StaffSite

    guard = phone(client, site, "guard")
    guard.pull()
    other = make_site(roles=("supervisor",))

    async def join():
        async with write_transaction():
            seq = await next_position()
            await StaffSite.insert(StaffSite(staff=site["users"]["guard"].id, site=other["site"].id))
            await Staff.update({Staff.sites_seq: seq}).where(Staff.id == site["users"]["guard"].id)

    run(join())
    body = guard.pull()
    assert body["full"] is True
    assert {s["id"] for s in body["sites"]} == {str(site["site"].id), str(other["site"].id)}


def test_deletions_and_retired_records_reach_the_phone(client, site):
    from server.changes import next_position, record_deletion
    from server.db import write_transaction
    from server.sites.tables import Checkpoint

    guard = phone(client, site, "guard")
    guard.pull()
    retired = site["checkpoints"][0]["checkpoint"]

    async def change():
        async with write_transaction():
            seq = await next_position()
            await Checkpoint.update({Checkpoint.retired: True, Checkpoint.seq: seq}).where(Checkpoint.id == retired.id)
            await record_deletion("zone", str(site["zone"].id), site["site"].id, seq)

    run(change())
    body = guard.pull()
    assert {"type": "checkpoint", "id": str(retired.id)} in body["deleted"]
    assert {"type": "zone", "id": str(site["zone"].id)} in body["deleted"]
    assert str(retired.id) not in guard.store["checkpoints"]
    assert str(retired.id) not in {c["id"] for c in guard.pull(full=True)["checkpoints"]}


def test_a_guards_pull_never_contains_another_site(client, site, make_site):
    other = make_site()
    intruder = phone(client, other, "guard")
    intruder.report(str(other["site"].id), "graffiti")
    intruder.push()
    theirs = {str(other["site"].id)} | {str(c["checkpoint"].id) for c in other["checkpoints"]} | {
        str(t.id) for t in other["templates"]} | {str(u.id) for u in other["users"].values()}
    guard = phone(client, site, "guard")
    for body in (guard.pull(), guard.pull()):
        text = json.dumps(body)
        assert not any(ident in text for ident in theirs)


def test_notifications_of_the_user_are_pulled(client, site):
    import uuid

    from server.changes import next_position
    from server.db import write_transaction
    from server.notify.tables import Notification

    guard = phone(client, site, "guard")
    guard.pull()

    async def notify():
        async with write_transaction():
            seq = await next_position()
            await Notification.insert(Notification(
                id=uuid.uuid4(), staff=site["users"]["guard"].id, event_key=f"test:{uuid.uuid4()}", kind="assigned",
                title="新的整改任务", body="3号楼", url="/app", seq=seq))

    run(notify())
    body = guard.pull()
    assert [(n["title"], n["read"]) for n in body["notifications"]] == [("新的整改任务", False)]
    assert phone(client, site, "cleaner").pull()["notifications"] == []
