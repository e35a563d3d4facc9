"""The rectification state machine and patrol slots as services (no HTTP)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import run
from server.errors import Forbidden, Invalid, NotFound

SH = ZoneInfo("Asia/Shanghai")


def test_state_machine_table_is_the_contracts():
    from server.rectifications.services import next_state

    expected = {
        "open": ("assigned", "in_progress", "fixed", None, None),
        "assigned": ("assigned", "in_progress", "fixed", None, None),
        "in_progress": ("assigned", None, "fixed", None, None),
        "fixed": (None, None, None, "verified", "reopened"),
        "reopened": ("assigned", "in_progress", "fixed", None, None),
        "verified": (None, None, None, None, None),
    }
    for state, row in expected.items():
        for action, after in zip(("assign", "start", "fix", "verify", "reopen"), row):
            assert next_state(state, action) == after, (state, action)
        assert next_state(state, "comment") == state


def _report(site, actor, category="dead_tree", severity="normal", at=None, photos=()):
    from server.rectifications.services import report_finding

    return run(report_finding(actor, uuid.uuid4(), site.id, category, severity, at=at, photos=photos))


def test_dead_tree_deadline_follows_the_site_level(make_site):
    at = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    for level, days in ((1, 7), (2, 15), (3, 30)):
        s = make_site(level=level, roles=("gardener",))
        outcome = _report(s["site"], s["users"]["gardener"], at=at)
        assert outcome.rectification.due_at == at + timedelta(days=days)
        assert outcome.rectification.state == "open"
        assert outcome.rectification.id == outcome.finding.id


def test_emergency_and_complaint_clocks(make_site):
    from server.rectifications.services import open_reception

    s = make_site(roles=("guard", "supervisor"))
    at = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    emergency = _report(s["site"], s["users"]["guard"], category="facility", severity="emergency", at=at)
    assert emergency.rectification.due_at == at + timedelta(minutes=30)
    complaint = run(open_reception(s["users"]["supervisor"], s["site"].id, "complaint", at=at, resident_unit="3-201"))
    assert complaint.due_at == at + timedelta(hours=2)
    assert complaint.source == "reception"
    with pytest.raises(Forbidden):
        run(open_reception(s["users"]["guard"], s["site"].id, "repair"))


def test_transitions_roles_and_conflicts_are_kept(make_site):
    from server.rectifications.services import history, transition

    s = make_site(roles=("guard", "technician", "supervisor"))
    guard, tech, sup = (s["users"][r] for r in ("guard", "technician", "supervisor"))
    rect_id = _report(s["site"], guard, category="lighting").rectification.id
    with pytest.raises(Forbidden):
        run(transition(rect_id, guard, "assign", assignee_id=tech.id))
    with pytest.raises(Invalid) as bad:
        run(transition(rect_id, sup, "assign", assignee_id=sup.id))
    assert bad.value.code == "bad_assignee"
    assert run(transition(rect_id, sup, "assign", assignee_id=tech.id)).state == "assigned"
    with pytest.raises(Forbidden):  # assigned to the technician: the guard may not take it over
        run(transition(rect_id, guard, "start"))
    assert run(transition(rect_id, tech, "start")).state == "in_progress"
    with pytest.raises(Invalid) as no_photo:
        run(transition(rect_id, tech, "fix"))
    assert no_photo.value.code == "photo_required"
    fixed = run(transition(rect_id, tech, "fix", photos=["a" * 64]))
    assert fixed.state == "fixed" and fixed.missing_photos == ["a" * 64]
    assert fixed.rectification.photos_missing == 1
    with pytest.raises(Forbidden):
        run(transition(rect_id, guard, "verify"))
    assert run(transition(rect_id, sup, "verify")).state == "verified"
    late = run(transition(rect_id, sup, "reopen", note="still dark"))
    assert (late.status, late.state) == ("conflict", "verified")
    steps = run(history(rect_id))
    assert [(t.action, t.outcome) for t in steps] == [
        ("assign", "applied"), ("start", "applied"), ("fix", "applied"), ("verify", "applied"), ("reopen", "conflict")]
    assert [t.position for t in steps] == [1, 2, 3, 4, 5]
    other = make_site(roles=("supervisor",))
    with pytest.raises(NotFound):
        run(transition(rect_id, other["users"]["supervisor"], "comment"))


def test_unassigned_start_makes_the_actor_assignee(make_site):
    from server.rectifications.services import transition

    s = make_site(roles=("cleaner",))
    cleaner = s["users"]["cleaner"]
    rect_id = _report(s["site"], cleaner, category="garbage").rectification.id
    outcome = run(transition(rect_id, cleaner, "start"))
    assert outcome.rectification.assignee == cleaner.id


def _patrol(s):
    return next(t for t in s["templates"] if t.code == "patrol.core")


def _backdate(s, days=3):
    """Pretend the site has existed for a few days (no slot is made from before a site existed)."""
    from server.rounds.tables import RoundTemplate
    from server.sites.tables import Site

    then = datetime.now(timezone.utc) - timedelta(days=days)
    run(Site.update({Site.created_at: then}).where(Site.id == s["site"].id))
    run(RoundTemplate.update({RoundTemplate.created_at: then}).where(RoundTemplate.site == s["site"].id))


def _round(s, template, started, finished):
    """A round that visits every checkpoint of its template (a complete round), then finishes."""
    from server.rounds.services import finish_round, record_visit, start_round
    from server.rounds.tables import TemplateItem
    from server.sites.tables import Checkpoint

    guard = s["users"]["guard"]

    async def go():
        rnd = await start_round(uuid.uuid4(), template, guard, started, started)
        items = await TemplateItem.select(TemplateItem.checkpoint).where(TemplateItem.template == template.id)
        for cp in await Checkpoint.objects().where(Checkpoint.id.is_in([i["checkpoint"] for i in items])):
            await record_visit(uuid.uuid4(), rnd, cp, guard, proof="qr", proof_verified=True, scanned_at=started,
                               device_at=started, answers=[], photos=[])
        return await finish_round(rnd, finished, finished)

    return run(go())


def test_round_settles_slot_on_time_late_and_missed(make_site):
    from server.rounds.services import settle_missed_slots, slot_id
    from server.rounds.tables import PatrolSlot

    s = make_site(roles=("guard",))
    _backdate(s)
    template = _patrol(s)
    day = datetime.now(SH).date() - timedelta(days=1)
    w10 = datetime(day.year, day.month, day.day, 10, tzinfo=SH)
    on_time = _round(s, template, w10 + timedelta(minutes=20), w10 + timedelta(minutes=50))
    assert on_time.status == "done" and on_time.id == slot_id(template.id, w10)
    late = _round(s, template, w10 + timedelta(hours=3, minutes=50), w10 + timedelta(hours=4, minutes=10))
    assert late.status == "late" and late.window_start == w10 + timedelta(hours=2)
    missed = run(settle_missed_slots(w10 + timedelta(hours=5)))
    ids = {m.id for m in missed if m.template == template.id}
    assert slot_id(template.id, w10 + timedelta(hours=4)) not in ids  # 14:00-16:00 not over yet at 15:00
    assert slot_id(template.id, w10 - timedelta(hours=2)) in ids
    assert run(settle_missed_slots(w10 + timedelta(hours=5))) == []
    rows = run(PatrolSlot.select(PatrolSlot.status).where(PatrolSlot.id == slot_id(template.id, w10)))
    assert rows == [{"status": "done"}]


def test_missed_slots_settle_once_when_run_concurrently(make_site):
    from server.rounds.services import settle_missed_slots

    make_site(roles=("guard",))
    later = datetime.now(timezone.utc) + timedelta(days=1)

    async def both():
        return await asyncio.gather(settle_missed_slots(later), settle_missed_slots(later))

    first, second = run(both())
    assert first or second
    assert not {m.id for m in first} & {m.id for m in second}


def test_due_lists_todays_windows_of_the_users_role(make_site):
    from server.rounds.services import due_for

    s = make_site(roles=("guard", "cleaner"))
    _backdate(s)
    due = run(due_for(s["users"]["guard"]))
    patrol = str(_patrol(s).id)
    assert sum(1 for d in due if d["template_id"] == patrol) == 24  # every 2 h, today and tomorrow
    cleaner_templates = {str(t.id) for t in s["templates"] if t.role == "cleaner"}
    assert not {d["template_id"] for d in due} & cleaner_templates
    assert {d["status"] for d in due} <= {"pending", "missed", "done", "late"}
