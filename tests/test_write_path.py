"""One write path: a step is the same rows whoever takes it and however it arrives.

A console action and a phone's op on a rectification make the same history; a
finding reported as a single op and inside a batch make the same finding and
rectification; a photo arriving completes every record that named it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import csrf_of, login, run
from phone import Phone
from photo_samples import jpeg, sha

# What differs by nature between two steps: their ids, times and the channel they came by.
CIRCUMSTANCE = {"id", "rectification", "at", "device_at", "received_at", "op_id", "source", "actor", "position",
                "created_at", "updated_at", "seq", "reported_at", "reported_device_at", "finding", "due_at", "note"}


@pytest.fixture
def site(make_site):
    return make_site(roles=("guard", "technician", "supervisor"))


def phone(client, site, role) -> Phone:
    return Phone(client, site["users"][role].username).login()


def steps(rect_id: Any) -> list[dict[str, Any]]:
    from server.rectifications.tables import RectTransition

    return run(RectTransition.select().where(RectTransition.rectification == uuid.UUID(str(rect_id))).order_by(
        RectTransition.position).output(load_json=True))


def row(table: Any, ident: Any) -> dict[str, Any]:
    return run(table.select().where(table.id == uuid.UUID(str(ident))).output(load_json=True).first())


def same(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({k: v for k, v in a.items() if k not in CIRCUMSTANCE}, {k: v for k, v in b.items() if k not in CIRCUMSTANCE})


def test_a_console_assignment_and_a_phone_assignment_make_the_same_history(client, site):
    guard, sup = phone(client, site, "guard"), phone(client, site, "supervisor")
    sid = str(site["site"].id)
    by_console, by_phone = guard.report(sid, "lighting"), guard.report(sid, "lighting")
    assert [r["status"] for r in guard.push()] == ["applied", "applied"]
    technician = str(site["users"]["technician"].id)

    sup.transition(by_phone, "assign", assignee_id=technician)
    assert [r["status"] for r in sup.push()] == ["applied"]
    login(client, site["users"]["supervisor"].username)
    page = f"/console/sites/{sid}/rectifications/{by_console}"
    answer = client.post(f"{page}/assign", data={"assignee": technician, "note": "",
                                                 "_csrf_token": csrf_of(client, page)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]

    [console_step], [phone_step] = steps(by_console), steps(by_phone)
    assert (console_step["source"], phone_step["source"]) == ("console", "phone")
    assert console_step["position"] == phone_step["position"] == 1
    left, right = same(console_step, phone_step)
    assert left == right and left["action"] == "assign" and left["to_state"] == "assigned"
    from server.rectifications.tables import Rectification

    left, right = same(row(Rectification, by_console), row(Rectification, by_phone))
    assert left == right and left["assignee"] == site["users"]["technician"].id


def test_a_finding_reported_alone_and_in_a_batch_makes_the_same_rows(client, site, monkeypatch):
    """The per-op path (taken when a stretch fails to write) is a batch of one on the same functions."""
    import sync.record
    from server.rectifications.tables import Finding, Rectification

    guard = phone(client, site, "guard")
    sid = str(site["site"].id)
    in_batch = guard.report(sid, "drain", note="井盖松动", photos=["ab" * 32])
    assert [r["status"] for r in guard.push()] == ["applied"]

    real, calls = sync.record.write, []

    async def fails_in_bulk(pending, snap):
        calls.append(len(pending.sync_ops))
        if pending.sync_ops:
            raise RuntimeError("disk I/O error")  # the batch's stretch: the op goes alone
        await real(pending, snap)

    monkeypatch.setattr(sync.record, "write", fails_in_bulk)
    alone = guard.report(sid, "drain", note="井盖松动", photos=["ab" * 32])
    [answer] = guard.push()
    assert answer["status"] == "applied" and answer["missing_photos"] == ["ab" * 32]
    assert calls == [1, 0]
    for table in (Finding, Rectification):
        left, right = same(row(table, in_batch), row(table, alone))
        assert left == right
    assert row(Rectification, alone)["photos_missing"] == 1


def test_a_photo_arriving_completes_the_visit_the_finding_and_the_fix_that_named_it(client, site):
    from server.rectifications.tables import Rectification
    from server.rounds.tables import Visit

    guard, tech = phone(client, site, "guard"), phone(client, site, "technician")
    data = jpeg(seed=4242)
    photo = sha(data)
    template = next(t for t in site["templates"] if t.role == "guard")
    checkpoint = str(site["checkpoints"][0]["checkpoint"].id)
    round_id = guard.start_round(str(template.id))
    visit_id = guard.visit(round_id, checkpoint, photos=[photo])
    finding_id = guard.report(str(site["site"].id), "facility", visit_id=visit_id, photos=[photo])
    guard.finish_round(round_id)
    assert [r["status"] for r in guard.push()] == ["applied"] * 4
    tech.transition(finding_id, "fix", photos=[photo])
    assert tech.push()[0]["missing_photos"] == [photo]
    assert row(Visit, visit_id)["photos_missing"] == 1
    assert row(Rectification, finding_id)["photos_missing"] == 2  # before and after

    guard.photos[photo] = data
    assert guard.upload_photos() == [photo]
    assert row(Visit, visit_id)["photos_missing"] == 0
    assert row(Rectification, finding_id)["photos_missing"] == 0
