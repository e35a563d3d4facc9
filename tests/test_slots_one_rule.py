"""Issue 14's patrol bugs, each as a user met it, against the one rule (server/rounds/schedule.py).

- A round that skipped checkpoints read "按时完成" on the today view, the slot log and the round
  page, and the report counted its window as covered.
- The pull's due[] listed windows that ended before the site existed.
- "Missed" was judged with `<` in one place and `<=` in another: at exactly end + grace.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from conftest import login, run
from console_data import midday_zone, new_site, patrol_round, required_checkpoints
from server.console import slots
from server.reports.compliance import compliance_report
from server.rounds import schedule
from server.rounds.services import due_for, settle_missed_slots, slot_id
from server.rounds.tables import PatrolSlot


def _partial_round_site():
    """A site (two days old) whose 10:00-12:00 patrol today was finished with all but one checkpoint skipped."""
    now = datetime.now(timezone.utc)
    tz = midday_zone()
    s = run(new_site(level=2, created_at=now - timedelta(days=2), tz=tz))
    template = s["templates"]["patrol.core"]
    required = run(required_checkpoints(template))
    morning = datetime.combine(now.astimezone(ZoneInfo(tz)).date(), datetime.min.time(), tzinfo=ZoneInfo(tz))
    w10 = (morning + timedelta(hours=10)).astimezone(timezone.utc)
    rnd = run(patrol_round(template, s["users"]["guard"], w10 + timedelta(minutes=10), w10 + timedelta(minutes=40),
                           required[:1]))
    s.update(round=rnd, required=required, window=w10, template=template)
    return s


def test_a_round_that_skipped_checkpoints_is_incomplete_on_every_screen_and_in_the_report(client):
    s = _partial_round_site()
    n = len(s["required"])
    assert n >= 2
    slot = run(PatrolSlot.objects().where(PatrolSlot.id == slot_id(s["template"].id, s["window"])).first())
    assert (slot.status, slot.visited, slot.required) == ("incomplete", 1, n)
    label = f"未完成 1/{n}"

    login(client, s["users"]["supervisor"].username)
    base = f"/console/sites/{s['site'].id}"
    today = client.get(f"{base}/today").text
    assert today.count('data-status="incomplete"') == 1 and label in today and "按时完成" not in today

    month = s["clock"].local(s["window"]).strftime("%Y-%m")
    log = client.get(f"{base}/logs/slots?month={month}&status=incomplete").text
    assert log.count('data-status="incomplete"') == 1 and label in log and f"1/{n}" in log
    assert client.get(f"{base}/logs/slots?month={month}&status=done").text.count('data-status="done"') == 0

    csv = client.get(f"{base}/logs/slots.csv?month={month}")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = [line for line in csv.text.splitlines() if str(s["round"].id) in line]
    assert len(rows) == 1 and label in rows[0] and f",1/{n}," in rows[0]
    english = client.get(f"{base}/logs/slots.csv?month={month}", headers={"accept-language": "en"}).text
    assert f"Incomplete 1/{n}" in english or label in english  # the person's language, when asked

    page = client.get(f"{base}/rounds/{s['round'].id}").text
    assert re.search(rf'data-status="incomplete">{label}<', page) and "按时完成" not in page
    skipped = re.search(r'<section class="skipped" id="skipped">(.*?)</section>', page, re.S).group(1)
    assert skipped.count('class="skipped-checkpoint"') == n - 1 and f"({n - 1})" in skipped

    year, mon = (int(p) for p in month.split("-"))
    report = run(compliance_report(s["clock"], year, mon))
    patrol = report.patrol
    assert patrol.detail["incomplete"] == 1 and patrol.detail["on_time"] == 0
    # The window counts 1 of n checkpoint visits, not a covered window (100 %).
    assert patrol.numerator == 1 and patrol.denominator == n * patrol.detail["due"]
    assert patrol.value is not None and patrol.value < 100


def test_due_after_the_site_was_created_mid_day_has_no_earlier_windows(make_site):
    s = make_site(roles=("guard",))
    created = s["site"].created_at
    due = run(due_for(s["users"]["guard"]))
    assert due, "today's later windows and tomorrow's are due"
    ends = [datetime.fromisoformat(d["window_end"]) for d in due]
    assert all(end > created for end in ends)
    assert "missed" not in {d["status"] for d in due}
    # The console lists the same windows (none before the site existed).
    clock_today = datetime.now(ZoneInfo(s["site"].timezone)).date()
    patrol = [t for t in s["templates"] if t.code == "patrol.core"]
    console = run(slots.windows(s["site"], patrol, [clock_today], datetime.now(timezone.utc)))
    assert {w["id"] for w in console} == {uuid.UUID(d["slot_id"]) for d in due
                                          if d["template_id"] == str(patrol[0].id)
                                          and datetime.fromisoformat(d["window_start"]).astimezone(
                                              ZoneInfo(s["site"].timezone)).date() == clock_today}


def test_at_exactly_end_plus_grace_a_window_is_pending_in_console_scheduler_and_due(make_site):
    s = make_site(roles=("guard",))
    patrol = next(t for t in s["templates"] if t.code == "patrol.core")
    now = datetime.now(timezone.utc)
    site_tz = ZoneInfo(s["site"].timezone)
    # The latest window that ended (plus grace) before now, on a site two days old.
    from server.rounds.tables import RoundTemplate
    from server.sites.tables import Site

    then = now - timedelta(days=2)
    run(Site.update({Site.created_at: then}).where(Site.id == s["site"].id))
    run(RoundTemplate.update({RoundTemplate.created_at: then}).where(RoundTemplate.site == s["site"].id))
    s["site"].created_at, patrol.created_at = then, then
    today = now.astimezone(site_tz).date()
    windows = schedule.slot_windows(patrol, today, s["site"].timezone)
    start, end = windows[0]
    edge = end + schedule.grace()

    def console_status(at):
        rows = run(slots.windows(s["site"], [patrol], [today], at))
        return next(w["status"] for w in rows if w["window_start"] == start)

    def due_status(at):
        return next(d["status"] for d in run(due_for(s["users"]["guard"], at))
                    if d["slot_id"] == str(slot_id(patrol.id, start)))

    assert console_status(edge) == due_status(edge) == "pending"
    missed = run(settle_missed_slots(edge))
    assert slot_id(patrol.id, start) not in {m.id for m in missed}
    assert console_status(edge) == due_status(edge) == "pending"
    after = edge + timedelta(seconds=1)
    assert console_status(after) == due_status(after) == "missed"
    missed = run(settle_missed_slots(after))
    assert slot_id(patrol.id, start) in {m.id for m in missed}
    assert console_status(after) == due_status(after) == "missed"
