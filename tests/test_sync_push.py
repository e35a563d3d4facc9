"""POST /sync/push: every op type, every status and code, the envelope rules, storage and time."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import run
from phone import Phone, uuid7

SHA_A, SHA_B = "a1" * 32, "b2" * 32


@pytest.fixture
def site(make_site):
    return make_site(roles=("guard", "cleaner", "technician", "supervisor"))


def phone(client, site, role, **options) -> Phone:
    return Phone(client, site["users"][role].username, **options).login()


def template(site, code):
    return next(t for t in site["templates"] if t.code == code)


def checkpoint(site, kind):
    return next(c for c in site["checkpoints"] if c["checkpoint"].kind == kind)


def only(results):
    assert len(results) == 1, results
    return results[0]


def push_one(p: Phone, op_type: str, data: dict, at: datetime | None = None) -> dict:
    p.enqueue(op_type, data, at)
    return only(p.push())


def rows(table, *where):
    query = table.select()
    for clause in where:
        query = query.where(clause)
    return run(query.output(load_json=True))


def test_a_round_with_visits_lands_in_the_inspection_log(client, site):
    from server.rounds.tables import CheckAnswer, PatrolSlot, Round, Visit

    guard = phone(client, site, "guard")
    patrol = template(site, "patrol.core")
    core = checkpoint(site, "core")
    park = checkpoint(site, "car_park")
    round_id = guard.start_round(str(patrol.id))
    good = guard.visit(round_id, str(core["checkpoint"].id), secret=core["secret"],
                       answers=[{"check_id": "secure", "ok": True}], lat=31.2, lng=121.5, accuracy_m=8)
    wrong = guard.visit(round_id, str(park["checkpoint"].id), secret="XJ-not-the-poster",
                        answers=[{"check_id": "fire_lane", "ok": False, "note": "电动车堵塞"}], photos=[SHA_A])
    typed = guard.visit(round_id, str(core["checkpoint"].id), proof="code", secret=core["code"].lower())
    bare = guard.visit(round_id, str(park["checkpoint"].id), proof="none")
    guard.finish_round(round_id)
    results = guard.push()
    assert [r["status"] for r in results] == ["applied"] * 6
    assert results[2]["missing_photos"] == [SHA_A]
    assert guard.outbox == []

    rnd = rows(Round, Round.id == round_id)[0]
    assert rnd["state"] == "finished" and rnd["staff"] == site["users"]["guard"].id
    visits = {str(v["id"]): v for v in rows(Visit, Visit.round == round_id)}
    assert visits[good]["proof_verified"] and visits[good]["lat"] == 31.2
    assert not visits[wrong]["proof_verified"] and visits[wrong]["has_problem"]
    assert visits[wrong]["photos_missing"] == 1 and visits[wrong]["photos"] == [SHA_A]
    assert visits[typed]["proof_verified"] and visits[typed]["proof"] == "code"
    assert not visits[bare]["proof_verified"]
    answers = rows(CheckAnswer, CheckAnswer.visit == wrong)
    assert [(a["check_id"], a["ok"], a["note"], a["label_zh"]) for a in answers] == [
        ("fire_lane", False, "电动车堵塞", "消防通道畅通")]
    slot = rows(PatrolSlot, PatrolSlot.round == round_id)
    # Two of the patrol's checkpoints visited: the window is settled, but as incomplete (SYNC.md v1.1).
    assert len(slot) == 1 and rnd["slot"] == slot[0]["id"]
    assert (slot[0]["status"], slot[0]["visited"]) == ("incomplete", 2) and slot[0]["required"] > 2


def test_a_finding_opens_a_rectification_with_the_levels_deadline(client, make_site):
    from server.rectifications.tables import Finding, Rectification

    site = make_site(level=1, roles=("gardener",))
    gardener = phone(client, site, "gardener")
    tree = checkpoint(site, "tree_group")["checkpoint"]
    at = datetime.now(timezone.utc).replace(microsecond=0)
    finding_id = uuid7()
    answer = push_one(gardener, "finding.report", {
        "finding_id": finding_id, "site_id": str(site["site"].id), "category": "dead_tree", "severity": "normal",
        "checkpoint_id": str(tree.id), "zone_id": str(site["zone"].id), "note": "枯死", "photos": [SHA_B],
    }, at=at)
    assert answer["status"] == "applied" and answer["missing_photos"] == [SHA_B]
    finding = rows(Finding, Finding.id == finding_id)[0]
    assert finding["category"] == "dead_tree" and finding["photos"] == [SHA_B]
    rect = rows(Rectification, Rectification.id == finding_id)[0]
    assert rect["state"] == "open" and rect["photos_missing"] == 1 and rect["photos_before"] == [SHA_B]
    # Level 1: a dead tree within 7 days of the (corrected) report time.
    assert abs(rect["due_at"] - (at + timedelta(days=7))) < timedelta(seconds=5)


def test_rectification_steps_through_the_state_machine(client, site):
    from server.rectifications.tables import Rectification, RectTransition

    guard, sup, tech = (phone(client, site, r) for r in ("guard", "supervisor", "technician"))
    rect_id = guard.report(str(site["site"].id), "lighting", "emergency")
    assert only(guard.push())["status"] == "applied"
    steps = [
        (sup, "assign", {"assignee_id": str(site["users"]["technician"].id)}, "assigned"),
        (tech, "comment", {"note": "路上"}, "assigned"),
        (tech, "start", {}, "in_progress"),
        (tech, "fix", {"photos": [SHA_A]}, "fixed"),
        (sup, "reopen", {"note": "还是不亮"}, "reopened"),
        (tech, "fix", {"photos": [SHA_B]}, "fixed"),
        (sup, "verify", {}, "verified"),
    ]
    for actor, action, extra, state in steps:
        actor.transition(rect_id, action, **extra)
        answer = only(actor.push())
        assert answer["status"] == "applied", answer
        assert rows(Rectification, Rectification.id == rect_id)[0]["state"] == state
    rect = rows(Rectification, Rectification.id == rect_id)[0]
    assert rect["assignee"] == site["users"]["technician"].id
    assert rect["photos_after"] == [SHA_A, SHA_B] and rect["started_at"] is not None
    history = rows(RectTransition, RectTransition.rectification == rect_id)
    assert sorted((h["position"], h["action"]) for h in history) == [
        (i + 1, step[1]) for i, step in enumerate(steps)]


def test_push_subscribe_stores_the_subscription(client, site):
    from server.notify.tables import PushSubscription

    guard = phone(client, site, "guard")
    key = base64.urlsafe_b64encode(b"\x04" + os.urandom(64)).decode().rstrip("=")
    auth = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    endpoint = f"https://push.example.com/{uuid.uuid4()}"
    answer = push_one(guard, "push.subscribe", {"endpoint": endpoint, "keys": {"p256dh": key, "auth": auth}})
    assert answer["status"] == "applied"
    stored = rows(PushSubscription, PushSubscription.endpoint == endpoint)
    assert len(stored) == 1 and stored[0]["staff"] == site["users"]["guard"].id
    bad = push_one(guard, "push.subscribe", {"endpoint": endpoint, "keys": {"p256dh": "short", "auth": auth}})
    assert (bad["status"], bad["code"]) == ("rejected", "invalid")


def test_each_rejection_code(client, site, make_site):
    guard, sup = phone(client, site, "guard"), phone(client, site, "supervisor")
    other = make_site(roles=("guard",))
    sid = str(site["site"].id)
    rect_id = guard.report(sid, "garbage")
    guard.push()

    def code(p, op_type, data):
        answer = push_one(p, op_type, data)
        assert answer["status"] == "rejected", answer
        assert answer["reason"]
        return answer["code"]

    assert code(guard, "finding.report", {"finding_id": uuid7(), "site_id": sid, "category": "ufo",
                                          "severity": "normal"}) == "invalid"
    assert code(guard, "finding.report", {"site_id": sid, "category": "drain", "severity": "normal"}) == "invalid"
    assert code(guard, "rect.transition", {"rect_id": rect_id, "action": "demolish"}) == "invalid"
    assert code(guard, "visit.record", {"visit_id": uuid7(), "round_id": uuid7(), "checkpoint_id": uuid7(),
                                        "proof": "telepathy", "scanned_at": guard.stamp(), "answers": []}) == "invalid"
    assert code(guard, "round.teleport", {}) == "unknown_type"
    assert code(guard, "finding.report", {"finding_id": uuid7(), "site_id": str(other["site"].id),
                                          "category": "drain", "severity": "normal"}) == "not_found"
    assert code(guard, "round.start", {"round_id": uuid7(), "template_id": str(other["templates"][0].id),
                                       "started_at": guard.stamp()}) == "not_found"
    assert code(guard, "visit.record", {"visit_id": uuid7(), "round_id": uuid7(), "checkpoint_id": uuid7(),
                                        "proof": "none", "scanned_at": guard.stamp(), "answers": []}) == "not_found"
    assert code(guard, "rect.transition", {"rect_id": uuid7(), "action": "comment"}) == "not_found"
    assert code(guard, "finding.report", {"finding_id": rect_id, "site_id": sid, "category": "drain",
                                          "severity": "normal"}) == "id_reused"
    assert code(guard, "round.start", {"round_id": uuid7(), "template_id": str(template(site, "clean.sweep").id),
                                       "started_at": guard.stamp()}) == "forbidden"
    assert code(guard, "rect.transition", {"rect_id": rect_id, "action": "verify"}) == "forbidden"
    assert code(guard, "rect.transition", {"rect_id": rect_id, "action": "fix"}) == "photo_required"
    assert code(sup, "rect.transition", {"rect_id": rect_id, "action": "assign",
                                         "assignee_id": str(other["users"]["guard"].id)}) == "bad_assignee"
    assert code(sup, "rect.transition", {"rect_id": rect_id, "action": "assign",
                                         "assignee_id": str(uuid.uuid4())}) == "bad_assignee"


def test_round_rules_visit_and_finish_by_the_starter_and_conflict_when_finished(client, site):
    guard, sup = phone(client, site, "guard"), phone(client, site, "supervisor")
    patrol = str(template(site, "patrol.core").id)
    core = str(checkpoint(site, "core")["checkpoint"].id)
    round_id = guard.start_round(patrol)
    guard.push()
    round_data = {"round_id": round_id, "template_id": patrol, "started_at": guard.stamp()}
    reused = push_one(sup, "round.start", round_data)
    assert (reused["status"], reused["code"]) == ("rejected", "id_reused")
    visit = push_one(sup, "visit.record", {"visit_id": uuid7(), "round_id": round_id, "checkpoint_id": core,
                                           "proof": "none", "scanned_at": sup.stamp(), "answers": []})
    assert (visit["status"], visit["code"]) == ("rejected", "forbidden")
    unknown_check = push_one(guard, "visit.record", {
        "visit_id": uuid7(), "round_id": round_id, "checkpoint_id": core, "proof": "none",
        "scanned_at": guard.stamp(), "answers": [{"check_id": "no_such_check", "ok": True}]})
    assert (unknown_check["status"], unknown_check["code"]) == ("rejected", "not_found")
    assert push_one(guard, "round.finish", {"round_id": round_id, "finished_at": guard.stamp()})["status"] == "applied"
    again = push_one(guard, "round.finish", {"round_id": round_id, "finished_at": guard.stamp()})
    assert (again["status"], again["state"]) == ("conflict", "finished")
    late_visit = push_one(guard, "visit.record", {"visit_id": uuid7(), "round_id": round_id, "checkpoint_id": core,
                                                  "proof": "none", "scanned_at": guard.stamp(), "answers": []})
    assert (late_visit["status"], late_visit["state"]) == ("conflict", "finished")
    # Supervisors may start any round.
    assert push_one(sup, "round.start", {"round_id": uuid7(), "template_id": patrol,
                                         "started_at": sup.stamp()})["status"] == "applied"


def test_conflict_is_kept_and_resends_are_duplicates_with_their_first_outcome(client, site):
    from server.rectifications.tables import RectTransition
    from sync.tables import SyncOp

    guard, sup = phone(client, site, "guard"), phone(client, site, "supervisor")
    rect_id = guard.report(str(site["site"].id), "graffiti")
    guard.transition(rect_id, "fix", photos=[SHA_A])
    guard.push()
    verify = sup.transition(rect_id, "verify")
    other_supervisor_verify = sup.transition(rect_id, "verify")
    answers = sup.push()
    assert answers[0]["status"] == "applied"
    assert (answers[1]["status"], answers[1]["state"], answers[1]["code"]) == ("conflict", "verified", "stale")
    history = rows(RectTransition, RectTransition.rectification == rect_id)
    assert [(h["action"], h["outcome"]) for h in sorted(history, key=lambda h: h["position"])] == [
        ("fix", "applied"), ("verify", "applied"), ("verify", "conflict")]

    bad = sup.transition(rect_id, "assign")  # no assignee: rejected
    sup.push()
    resent = sup.push_batch([verify, other_supervisor_verify, bad])
    assert [r["status"] for r in resent] == ["duplicate"] * 3
    assert resent[0]["original_status"] == "applied"
    assert (resent[1]["original_status"], resent[1]["state"]) == ("conflict", "verified")
    assert (resent[2]["original_status"], resent[2]["code"]) == ("rejected", "bad_assignee") and resent[2]["reason"]
    # Nothing was applied twice, and a resend is not a new row.
    assert len(rows(RectTransition, RectTransition.rectification == rect_id)) == 3
    assert len(rows(SyncOp, SyncOp.op_id == verify["op_id"])) == 1


def test_an_op_id_used_by_another_user_is_rejected(client, site):
    guard, cleaner = phone(client, site, "guard"), phone(client, site, "cleaner")
    op = guard.enqueue("finding.report", {"finding_id": uuid7(), "site_id": str(site["site"].id),
                                          "category": "drain", "severity": "normal"})
    guard.push()
    stolen = cleaner.push_batch([{**op, "data": {**op["data"], "finding_id": uuid7()}}])
    assert (stolen[0]["status"], stolen[0]["code"]) == ("rejected", "id_reused")


def test_one_bad_op_never_fails_its_neighbours_and_every_op_is_stored(client, site):
    from server.rounds.tables import Round
    from sync.tables import SyncOp

    guard = phone(client, site, "guard")
    patrol = str(template(site, "patrol.core").id)
    first = guard.start_round(patrol)
    guard.outbox.append({"op_id": "not-a-uuid", "type": "round.start", "at": guard.stamp(), "data": {}})
    guard.outbox.append("not even an object")
    # A round.start whose round id is reused inside the same batch: its own writes are rolled back.
    guard.enqueue("round.start", {"round_id": first, "template_id": patrol, "started_at": guard.stamp()})
    second = guard.start_round(patrol)
    results = guard.push()
    assert [r["status"] for r in results] == ["applied", "rejected", "rejected", "rejected", "applied"]
    assert results[1]["op_id"] == "not-a-uuid" and results[1]["code"] == "invalid"
    assert results[2]["op_id"] is None and results[3]["code"] == "id_reused"
    assert {str(r["id"]) for r in rows(Round, Round.staff == site["users"]["guard"].id)} == {first, second}
    stored = rows(SyncOp, SyncOp.staff == site["users"]["guard"].id)
    assert len(stored) == 5
    assert sorted(s["status"] for s in stored) == ["applied", "applied", "rejected", "rejected", "rejected"]
    assert any(s["data"].get("raw") == "not even an object" for s in stored)


def test_envelope_errors(client, site):
    guard = phone(client, site, "guard")
    post = lambda body, **kw: client.post("/sync/push", content=body, headers={**guard.headers(), **kw})  # noqa: E731
    for body in (b"{not json", b'{"device_time": "2026-01-01T00:00:00+08:00"}',
                 json.dumps({"ops": [], "device_time": "yesterday"}).encode(), json.dumps({"ops": []}).encode(),
                 json.dumps({"ops": [], "device_time": "2026-01-01T00:00:00"}).encode(), b"[]"):
        response = post(body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "bad_envelope"
    many = json.dumps({"device_time": guard.stamp(), "ops": [{}] * 501}).encode()
    assert post(many).status_code == 413 and post(many).json()["code"] == "too_large"
    huge = json.dumps({"device_time": guard.stamp(), "ops": [], "pad": "x" * (1024 * 1024)}).encode()
    assert post(huge).json()["code"] == "too_large"
    unreadable_and_huge = b"\xff" * (1024 * 1024 + 10)
    response = post(unreadable_and_huge)
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    exactly_500 = json.dumps({"device_time": guard.stamp(), "ops": [{}] * 500}).encode()
    response = post(exactly_500)
    assert response.status_code == 200 and {r["code"] for r in response.json()["results"]} == {"invalid"}


def test_device_tokens_guard_sync(client, site):
    from server.staff.tables import DeviceToken

    guard = phone(client, site, "guard")
    body = {"device_time": guard.stamp(), "ops": []}
    assert client.post("/sync/push", json=body).json()["code"] == "bad_token"
    assert client.get("/sync/pull", headers={"Authorization": "Bearer nope"}).json()["code"] == "bad_token"
    assert client.get("/sync/pull", headers=guard.headers()).status_code == 200
    token = rows(DeviceToken, DeviceToken.device_id == guard.device_id)[0]
    assert token["last_sync_at"] is not None
    run(DeviceToken.update({DeviceToken.last_used_at: datetime.now(timezone.utc) - timedelta(days=31)}).where(
        DeviceToken.id == token["id"]))
    for response in (client.get("/sync/pull", headers=guard.headers()),
                     client.post("/sync/push", json=body, headers=guard.headers())):
        assert (response.status_code, response.json()["code"]) == (401, "token_expired")


def test_a_push_is_judged_token_size_token_body_in_that_order(client, site):
    """No token: 401 before the body is read; a body over the limit: 413 before the token is looked up;
    then the token (401) before the content (400), and a push with an expired token changes nothing."""
    from server.staff.tables import DeviceToken
    from sync.tables import SyncOp

    guard = phone(client, site, "guard")
    junk, huge = b"{not json", b"x" * (1024 * 1024 + 10)
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/sync/push", content=junk).json()["code"] == "bad_token"
    assert client.post("/sync/push", content=huge).json()["code"] == "bad_token"
    assert client.post("/sync/push", content=huge, headers=bad).json()["code"] == "too_large"
    assert client.post("/sync/push", content=junk, headers=bad).json()["code"] == "bad_token"
    assert client.post("/sync/push", content=junk, headers=guard.headers()).json()["code"] == "bad_envelope"
    run(DeviceToken.update({DeviceToken.last_used_at: datetime.now(timezone.utc) - timedelta(days=31)}).where(
        DeviceToken.device_id == guard.device_id))
    guard.start_round(str(template(site, "patrol.core").id))
    body = {"device_id": guard.device_id, "device_time": guard.stamp(), "ops": guard.outbox}
    response = client.post("/sync/push", json=body, headers=guard.headers())
    assert (response.status_code, response.json()["code"]) == (401, "token_expired")
    assert rows(SyncOp, SyncOp.op_id == guard.outbox[0]["op_id"]) == []


def test_device_clock_skew_is_corrected_and_flagged(client, site):
    from server.rectifications.tables import Finding, Rectification
    from server.rounds.tables import PatrolSlot, Round, Visit
    from sync.tables import SyncOp

    guard = phone(client, site, "guard", clock_offset=-timedelta(hours=3))  # the phone's clock is 3 h slow
    patrol = str(template(site, "patrol.core").id)
    round_id = guard.start_round(patrol)
    visit_id = guard.visit(round_id, str(checkpoint(site, "core")["checkpoint"].id), proof="none")
    guard.finish_round(round_id)
    finding_id = guard.report(str(site["site"].id), "hazard")
    before = datetime.now(timezone.utc)
    assert {r["status"] for r in guard.push()} == {"applied"}
    after = datetime.now(timezone.utc)

    def near_now(moment):
        return before - timedelta(seconds=5) <= moment <= after + timedelta(seconds=5)

    rnd = rows(Round, Round.id == round_id)[0]
    assert rnd["skew_flag"] and abs(rnd["skew_seconds"] - 3 * 3600) < 10
    assert near_now(rnd["started_at"]) and near_now(rnd["finished_at"])
    assert rnd["started_device_at"] < before - timedelta(hours=2)
    visit = rows(Visit, Visit.id == visit_id)[0]
    assert visit["skew_flag"] and near_now(visit["scanned_at"])
    assert rows(Finding, Finding.id == finding_id)[0]["skew_flag"]
    rect = rows(Rectification, Rectification.id == finding_id)[0]
    assert near_now(rect["created_at"])  # the deadline clock starts on server time
    slot = rows(PatrolSlot, PatrolSlot.round == round_id)[0]
    assert slot["window_start"] <= rnd["finished_at"] <= slot["window_end"]  # the slot of the corrected time
    op = rows(SyncOp, SyncOp.staff == site["users"]["guard"].id, SyncOp.type == "round.start")[0]
    assert abs(op["skew_seconds"] - 3 * 3600) < 10 and near_now(op["corrected_at"]) and near_now(op["received_at"])
    assert op["at"] < before - timedelta(hours=2)

    honest = phone(client, site, "technician")
    honest.transition(finding_id, "start")
    honest.push()
    from server.rectifications.tables import RectTransition

    step = rows(RectTransition, RectTransition.rectification == finding_id)[0]
    assert not step["skew_flag"]
