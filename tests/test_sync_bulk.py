"""The push's batch path: ops judged in memory and written in bulk answer as the per-op path does,
rare ops keep their place in the batch, a server failure mid-batch still applies every op once,
and the findings' notifications are committed with the push."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from conftest import run
from phone import Phone

SHA = "d4" * 32


@pytest.fixture
def site(make_site):
    return make_site(roles=("guard", "technician", "supervisor", "admin"))


def phone(client, site, role) -> Phone:
    return Phone(client, site["users"][role].username).login()


def patrol(site) -> str:
    return str(next(t for t in site["templates"] if t.code == "patrol.core").id)


def checkpoint(site, kind="core") -> str:
    return str(next(c for c in site["checkpoints"] if c["checkpoint"].kind == kind)["checkpoint"].id)


def a_shift(guard: Phone, site) -> dict[str, Any]:
    """Two rounds finished in the same patrol window, visits, a finding and a bad op, as one outbox."""
    first, second = guard.start_round(patrol(site)), guard.start_round(patrol(site))
    visits = [guard.visit(first, checkpoint(site), proof="none", answers=[{"check_id": "secure", "ok": False}]),
              guard.visit(second, checkpoint(site, "car_park"), proof="none", photos=[SHA])]
    finding = guard.report(str(site["site"].id), "hazard", note="井盖松动", visit_id=visits[0])
    guard.finish_round(first)
    guard.finish_round(second)
    guard.visit(first, checkpoint(site), proof="none")  # after the finish: a conflict
    guard.enqueue("round.start", {"round_id": first, "template_id": patrol(site), "started_at": guard.stamp()})
    return {"rounds": [first, second], "visits": visits, "finding": finding}


def check_shift(results: list[dict[str, Any]], shift: dict[str, Any], site) -> None:
    from server.rectifications.tables import Rectification
    from server.rounds.tables import CheckAnswer, PatrolSlot, Round, Visit

    assert [r["status"] for r in results] == ["applied"] * 7 + ["conflict", "rejected"]
    assert results[3]["missing_photos"] == [SHA]
    assert (results[7]["state"], results[8]["code"]) == ("finished", "id_reused")
    rounds = {str(r["id"]): r for r in run(Round.select().where(Round.id.is_in(shift["rounds"])))}
    assert {r["state"] for r in rounds.values()} == {"finished"}
    # Both rounds finished in one window, each at one checkpoint: the first settles its slot as incomplete,
    # and the second, no fuller, does not take it over.
    first, second = (rounds[i] for i in shift["rounds"])
    assert first["slot"] is not None and second["slot"] is None
    slot = run(PatrolSlot.select().where(PatrolSlot.id == first["slot"]).first())
    assert (slot["status"], str(slot["round"]), slot["visited"]) == ("incomplete", shift["rounds"][0], 1)
    assert slot["required"] > 1
    visits = run(Visit.select().where(Visit.round.is_in(shift["rounds"])))
    assert sorted(v["photos_missing"] for v in visits) == [0, 1] and any(v["has_problem"] for v in visits)
    answers = run(CheckAnswer.select().where(CheckAnswer.visit == shift["visits"][0]))
    assert [(a["check_id"], a["ok"]) for a in answers] == [("secure", False)]
    rect = run(Rectification.select().where(Rectification.id == shift["finding"]).first())
    assert rect["state"] == "open" and rect["note"] == "井盖松动" and rect["due_at"] is not None


def test_a_shift_in_one_push_lands_whole_and_a_resend_is_answered_from_it(client, site):
    guard = phone(client, site, "guard")
    shift = a_shift(guard, site)
    sent = list(guard.outbox)
    check_shift(guard.push(), shift, site)
    again = guard.push_batch(sent)
    assert [r["status"] for r in again] == ["duplicate"] * len(sent)
    assert [r["original_status"] for r in again] == ["applied"] * 7 + ["conflict", "rejected"]
    assert again[3]["missing_photos"] == [SHA] and again[7]["state"] == "finished"


def test_a_failed_bulk_write_applies_the_batch_op_by_op(client, site, monkeypatch):
    import sync.record

    real = sync.record.write
    calls = []

    async def fails_once(pending, snap):
        calls.append(len(pending.sync_ops))
        if len(calls) == 1:
            await real(pending, snap)  # half of the work is done when the database gives up
            raise RuntimeError("disk I/O error")
        await real(pending, snap)

    monkeypatch.setattr(sync.record, "write", fails_once)
    guard = phone(client, site, "guard")
    shift = a_shift(guard, site)
    check_shift(guard.push(), shift, site)
    # Nothing written twice: the per-op path took over the whole stretch, each op a batch of one
    # (the same writers; its stored op is written beside them).
    assert calls[0] == 9 and calls[1:] == [0] * (len(calls) - 1) and len(calls) > 1


def test_a_bug_judging_one_op_leaves_every_op_applied(client, site, monkeypatch):
    """Judging fails once in the batch (a bug that the op alone does not hit): the rest goes op by op."""
    import sync.record

    real = sync.record.DECIDE["round.finish"]
    calls: list[int] = []

    def broken_once(snap, pending, op):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("bug")
        return real(snap, pending, op)

    monkeypatch.setitem(sync.record.DECIDE, "round.finish", broken_once)
    guard = phone(client, site, "guard")
    shift = a_shift(guard, site)
    check_shift(guard.push(), shift, site)


def test_steps_on_a_finding_in_the_same_push_see_it_and_keep_their_order(client, site):
    from server.rectifications.tables import Rectification, RectTransition

    sup = phone(client, site, "supervisor")
    sid = str(site["site"].id)
    first = sup.report(sid, "lighting")
    sup.transition(first, "assign", assignee_id=str(site["users"]["technician"].id))
    second = sup.report(sid, "graffiti")
    sup.transition(second, "verify")  # open: a conflict
    sup.transition(first, "comment", note="明早处理")
    third = sup.report(sid, "drain")
    results = sup.push()
    assert [r["status"] for r in results] == ["applied", "applied", "applied", "conflict", "applied", "applied"]
    states = {str(r["id"]): (r["state"], r["assignee"]) for r in run(Rectification.select().where(
        Rectification.id.is_in([first, second, third])))}
    technician = site["users"]["technician"].id
    assert states == {first: ("assigned", technician), second: ("open", None), third: ("open", None)}
    steps = run(RectTransition.select().where(RectTransition.rectification == first).order_by(RectTransition.position))
    assert [(s["action"], s["outcome"]) for s in steps] == [("assign", "applied"), ("comment", "applied")]


def test_findings_notifications_are_committed_with_the_push(client, site, monkeypatch):
    """Nothing runs after the commit (as if the process died there): the supervisors still hear of it all."""
    import sync.push
    from server.notify.tables import DigestItem, Notification

    left: list[Any] = []

    async def never_run(events):
        left.extend(events)

    guard = phone(client, site, "guard")
    sid = str(site["site"].id)
    emergency = guard.report(sid, "fire_safety", severity="emergency", note="配电房冒烟")
    guard.report(sid, "garbage")
    guard.report(sid, "water_snow")
    monkeypatch.setattr(sync.push, "run_events", never_run)
    assert [r["status"] for r in guard.push()] == ["applied"] * 3
    assert left == []
    for role in ("supervisor", "admin"):
        notes = run(Notification.select().where(Notification.staff == site["users"][role].id).output(load_json=True))
        kinds = sorted(n["kind"] for n in notes)
        assert kinds == ["digest", "emergency"], kinds
        digest = next(n for n in notes if n["kind"] == "digest")
        assert digest["title"].endswith("2 项新问题")
        assert digest["data"]["counts"] == {"garbage": 1, "water_snow": 1}
        assert run(DigestItem.count().where(DigestItem.notification == digest["id"])) == 2
        assert next(n for n in notes if n["kind"] == "emergency")["event_key"] == f"emergency:{emergency}"
    assert run(Notification.count().where(Notification.staff == site["users"]["guard"].id)) == 0


def test_the_sender_is_woken_after_the_push_has_committed(client, site, monkeypatch):
    """An emergency reported by a phone: the push wakes the notification sender once its transaction is over."""
    import sync.push
    from server.db import engine

    open_transaction: list[bool] = []

    def wake() -> None:  # the sender runs elsewhere: it sees only what is committed when woken
        open_transaction.append(engine().current_transaction.get() is not None)

    guard = phone(client, site, "guard")
    guard.report(str(site["site"].id), "fire_safety", severity="emergency", note="配电房冒烟")
    monkeypatch.setattr(sync.push.dispatch, "wake", wake)
    assert [r["status"] for r in guard.push()] == ["applied"]
    # The inbox wakes it as it stores (inside the push, too early); the push wakes it again after its commit.
    assert open_transaction and open_transaction[-1] is False, open_transaction


@pytest.mark.parametrize("moment", [
    datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc),
    datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
    datetime.fromisoformat("2026-11-27T02:00:00+00:00"),
    datetime(2026, 11, 27, 10, 0),
    None,
], ids=["utc", "beijing", "parsed utc", "naive", "none"])
def test_bulk_rows_store_times_and_ids_as_piccolo_does(moment):
    """Rows written in bulk read back like rows Piccolo wrote: the same text for a time and a UUID."""
    from piccolo.engine.sqlite import convert_datetime_in, convert_uuid_in

    from server.bulk import SQLiteText

    text = SQLiteText()
    assert text.time(moment) == text.time(moment) == (convert_datetime_in(moment) if moment is not None else None)
    ident = uuid.uuid4()
    assert text.uuid(ident) == text.uuid(ident) == convert_uuid_in(ident)
