"""Who hears of what: each event rule with its recipients, once per person however often it runs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import run
from server.notify import inbox, rules
from server.notify.tables import Notification, OutboundMessage
from server.rectifications.services import report_finding, transition
from server.rectifications.tables import Finding, Rectification
from server.rounds.services import slot_id
from server.rounds.tables import PatrolSlot, RoundTemplate
from server.scheduler import JOBS, run_jobs, run_once
from server.sites.tables import Site, SiteFigure
from server.staff.tables import Staff

PHOTO = "ab" * 32


def now() -> datetime:
    return datetime.now(timezone.utc)


def period_at(at: datetime) -> None:
    """The scheduler's period at another time, minus settling patrol slots, which would move every
    site's windows (and other tests') through time; past slots are made with `past_slot` instead."""
    run(run_jobs(tuple(j for j in JOBS if j.name != "settle_missed_slots"), at))


def short_deadline(site: dict[str, Any], minutes: int) -> None:
    """This site agreed a shorter deadline for findings (figures are editable per site)."""
    run(SiteFigure.update({SiteFigure.value: minutes}).where(
        (SiteFigure.site == site["site"].id) & (SiteFigure.code == "sla.finding")))


def past_slot(site: dict[str, Any]) -> PatrolSlot:
    """The latest patrol window of this site that ended (plus the grace) with nobody there; the site and
    its templates made a minute before it ended (a window from before they existed is no slot), so it
    is the only window the scheduler finds missed."""
    from server.rounds.schedule import grace, local_day, slot_windows

    template = run(RoundTemplate.objects().where(
        (RoundTemplate.site == site["site"].id) & (RoundTemplate.code == "patrol.core")).first())
    tz, at = site["site"].timezone, now()
    today = local_day(at, tz)
    windows = slot_windows(template, today - timedelta(days=1), tz) + slot_windows(template, today, tz)
    start, end = max(w for w in windows if w[1] + grace() < at)
    since = end - timedelta(minutes=1)
    run(Site.update({Site.created_at: since}).where(Site.id == site["site"].id))
    run(RoundTemplate.update({RoundTemplate.created_at: since}).where(RoundTemplate.site == site["site"].id))
    slot = PatrolSlot(id=slot_id(template.id, start), template=template.id, site=site["site"].id,
                      window_start=start, window_end=end, status="pending")
    run(slot.save())
    return slot


def inbox_of(staff: Any) -> list[Notification]:
    return run(Notification.objects().where(Notification.staff == staff.id).order_by(Notification.created_at))


def kinds_of(staff: Any) -> list[str]:
    return [n.kind for n in inbox_of(staff)]


def report(site: dict[str, Any], severity: str, category: str = "hazard", reporter: str = "guard",
           note: str = "") -> uuid.UUID:
    finding_id = uuid.uuid4()
    run(report_finding(site["users"][reporter], finding_id, site["site"].id, category, severity, note=note))
    return finding_id


def rect(rect_id: uuid.UUID) -> Rectification:
    return run(Rectification.objects().where(Rectification.id == rect_id).first())


def test_an_emergency_reaches_the_sites_supervisors_at_once_and_nobody_else(make_site):
    site = make_site(roles=("guard", "technician", "supervisor", "admin"))
    elsewhere = make_site(roles=("supervisor",))
    rect_id = report(site, "emergency", category="fire_safety", note="B1 消防通道堵塞")

    for person in ("supervisor", "admin"):
        [row] = inbox_of(site["users"][person])
        assert (row.kind, row.event_key, row.push_state) == ("emergency", f"emergency:{rect_id}", "pending")
        assert row.url == f"/console/sites/{site['site'].id}/rectifications/{rect_id}"
    assert inbox_of(site["users"]["guard"]) == []  # the reporter knows
    assert inbox_of(site["users"]["technician"]) == []
    assert inbox_of(elsewhere["users"]["supervisor"]) == []

    # The same event again (a hook retried) is not a second notification.
    from server.notify import events

    finding = run(Finding.objects().where(Finding.id == rect_id).first())
    run(events.finding_reported(finding, rect(rect_id)))
    assert kinds_of(site["users"]["supervisor"]) == ["emergency"]


def test_a_supervisor_reporting_an_emergency_is_not_told_of_it(make_site):
    site = make_site(roles=("supervisor", "admin"))
    report(site, "emergency", reporter="supervisor")
    assert inbox_of(site["users"]["supervisor"]) == []
    assert kinds_of(site["users"]["admin"]) == ["emergency"]


def test_normal_findings_are_grouped_into_one_digest_per_supervisor_and_site(make_site):
    site = make_site(roles=("guard", "cleaner", "supervisor"))
    supervisor = site["users"]["supervisor"]
    first = report(site, "normal", category="garbage")
    report(site, "normal", category="garbage", reporter="cleaner")
    report(site, "normal", category="water_snow", reporter="cleaner")

    [digest] = inbox_of(supervisor)
    assert digest.kind == "digest" and digest.push_state == "held"
    assert digest.title == f"{site['site'].name}: 3 项新问题"
    assert digest.body == "垃圾满溢 ×2、积水积雪"
    assert digest.url == f"/console/sites/{site['site'].id}/review?pending=1"
    assert digest.event_key == f"digest:{site['site'].id}:{first}"

    # The same findings again (a hook retried, one by one or as a push's batch) change nothing.
    from server.notify import events

    finding = run(Finding.objects().where(Finding.id == first).first())
    run(events.finding_reported(finding, rect(first)))
    run(events.findings_reported([(finding, rect(first))]))
    [digest] = inbox_of(supervisor)
    assert (digest.title, digest.body) == (f"{site['site'].name}: 3 项新问题", "垃圾满溢 ×2、积水积雪")

    # The scheduler releases it after the collecting time, once, however often it runs.
    later = now() + timedelta(minutes=rules.DIGEST_MINUTES + 1)
    assert run(rules.release_digests(later)) >= 1
    run(rules.release_digests(later))
    run(run_once(later))
    [digest] = inbox_of(supervisor)
    assert digest.push_state in ("pending", "sent", "skipped")

    # A finding after the release opens the next digest.
    report(site, "normal", category="road")
    assert [n.kind for n in inbox_of(supervisor)] == ["digest", "digest"]
    assert inbox_of(supervisor)[1].title == f"{site['site'].name}: 1 项新问题"


def test_assignment_and_reopen_reach_the_assignee(make_site):
    site = make_site(roles=("guard", "technician", "supervisor"))
    supervisor, technician = site["users"]["supervisor"], site["users"]["technician"]
    rect_id = report(site, "normal", category="lighting")
    run(transition(rect_id, supervisor, "assign", assignee_id=technician.id))

    [assigned] = inbox_of(technician)
    assert assigned.kind == "assigned"
    assert "照明损坏" in assigned.title
    assert assigned.url == f"/app#/rect/{rect_id}"

    run(transition(rect_id, technician, "start"))
    run(transition(rect_id, technician, "fix", photos=[PHOTO]))
    run(transition(rect_id, supervisor, "reopen", note="灯还是不亮"))
    assert kinds_of(technician) == ["assigned", "reopened"]
    assert "灯还是不亮" in inbox_of(technician)[1].body
    # Supervisors are not told of their own assignment or reopen (their digest is about the finding).
    assert kinds_of(supervisor) == ["digest"]


def test_a_reassignment_tells_the_new_assignee(make_site):
    site = make_site(roles=("guard", "technician", "cleaner", "supervisor"))
    supervisor = site["users"]["supervisor"]
    rect_id = report(site, "normal", category="garbage")
    run(transition(rect_id, supervisor, "assign", assignee_id=site["users"]["technician"].id))
    run(transition(rect_id, supervisor, "assign", assignee_id=site["users"]["cleaner"].id))
    assert kinds_of(site["users"]["technician"]) == ["assigned"]
    assert kinds_of(site["users"]["cleaner"]) == ["assigned"]


def test_deadline_within_the_hour_then_overdue_reach_assignee_and_supervisors_once(make_site):
    site = make_site(roles=("guard", "technician", "supervisor", "admin"))
    short_deadline(site, 90)
    supervisor, technician = site["users"]["supervisor"], site["users"]["technician"]
    rect_id = report(site, "normal", category="drain")
    run(transition(rect_id, supervisor, "assign", assignee_id=technician.id))
    due = rect(rect_id).due_at

    period_at(due - timedelta(minutes=70))  # more than an hour left: nothing yet
    assert "due_soon" not in kinds_of(technician)
    for _ in range(2):
        period_at(due - timedelta(minutes=40))
    for person in (technician, supervisor, site["users"]["admin"]):
        assert kinds_of(person).count("due_soon") == 1
    assert kinds_of(site["users"]["guard"]) == []

    for _ in range(2):
        period_at(due + timedelta(minutes=1))
    for person in (technician, supervisor, site["users"]["admin"]):
        assert kinds_of(person).count("overdue") == 1
    assert rect(rect_id).overdue_flagged is True
    overdue = [n for n in inbox_of(technician) if n.kind == "overdue"][0]
    assert "雨污水井/管道堵塞" in overdue.title
    assert overdue.url == f"/app#/rect/{rect_id}"


def test_a_fixed_rectification_or_an_emergency_crew_on_site_is_not_chased(make_site):
    site = make_site(roles=("guard", "technician", "supervisor"))
    short_deadline(site, 20)
    supervisor, technician = site["users"]["supervisor"], site["users"]["technician"]
    fixed = report(site, "normal", category="graffiti")
    run(transition(fixed, technician, "fix", photos=[PHOTO]))
    emergency = report(site, "emergency", category="facility")
    run(transition(emergency, technician, "start"))  # on site: the 30-minute clock stops
    waiting = report(site, "emergency", category="facility")

    period_at(rect(emergency).due_at + timedelta(minutes=5))
    chased = {n.event_key.split(":")[1] for n in inbox_of(supervisor) if n.kind in ("overdue", "due_soon")}
    assert chased == {str(waiting)}
    # The emergency's own notification said it all: no "within the hour" on a 30-minute clock.
    assert [n.kind for n in inbox_of(supervisor) if str(waiting) in n.event_key] == ["emergency", "overdue"]


def test_missed_patrol_windows_reach_supervisors_once(make_site):
    site = make_site(roles=("guard", "supervisor", "admin"))
    slot = past_slot(site)
    run(run_once())
    run(run_once())
    for person in ("supervisor", "admin"):
        [note] = [n for n in inbox_of(site["users"][person]) if n.kind == "missed_slot"]
        assert note.event_key == f"missed_slot:{slot.id}"
        assert note.url == f"/console/sites/{site['site'].id}/logs/slots?status=missed"
        assert note.title == "巡查漏检 · 核心部位巡查"
    assert inbox_of(site["users"]["guard"]) == []
    assert run(PatrolSlot.select(PatrolSlot.status).where(PatrolSlot.id == slot.id).first())["status"] == "missed"


def test_muted_kinds_stay_in_the_inbox_but_are_not_pushed(make_site):
    site = make_site(roles=("guard", "supervisor", "admin"))
    run(inbox.set_muted(site["users"]["supervisor"].id, ["emergency"]))
    report(site, "emergency")
    [muted] = inbox_of(site["users"]["supervisor"])
    [pushed] = inbox_of(site["users"]["admin"])
    assert muted.push_state == "muted"
    assert pushed.push_state == "pending"


def test_each_person_reads_in_their_own_language(make_site):
    site = make_site(roles=("guard", "supervisor", "admin"))
    run(Staff.update({Staff.language: "en"}).where(Staff.id == site["users"]["admin"].id))
    report(site, "emergency", category="fire_safety")
    [zh] = inbox_of(site["users"]["supervisor"])
    [en] = inbox_of(site["users"]["admin"])
    assert zh.title == "紧急问题 · 消防通道/器材"
    assert en.title == "Emergency · Fire lane blocked or extinguisher unusable"
    assert "on site by" in en.body


def test_wecom_messages_are_queued_once_per_event_for_sites_with_a_robot(make_site):
    site = make_site(roles=("guard", "supervisor"))
    quiet = make_site(roles=("guard", "supervisor"))
    run(Site.update({Site.wecom_webhook: "http://127.0.0.1:9/cgi-bin/webhook/send?key=test-key"}).where(
        Site.id == site["site"].id))
    slot = past_slot(site)
    past_slot(quiet)
    loud = report(site, "emergency")
    report(quiet, "emergency")
    report(site, "normal", category="garbage")
    run(run_once())
    for _ in range(2):
        period_at(rect(loud).due_at + timedelta(minutes=1))

    keys = sorted(r["event_key"] for r in run(OutboundMessage.select(OutboundMessage.event_key).where(
        OutboundMessage.site_id == site["site"].id)))
    due = int(rect(loud).due_at.timestamp())
    assert keys == sorted([f"emergency:{loud}", f"missed_slot:{slot.id}", f"overdue:{loud}:{due}"])
    assert not run(OutboundMessage.exists().where(OutboundMessage.site_id == quiet["site"].id))
