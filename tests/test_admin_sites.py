"""Sites from the admin pages: each level's templates, deadlines and targets (STANDARD.md), per-site
figures that the deadline computation uses, and a level change that keeps history."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from admin_pages import as_admin, created_id, page_error, post, sync_push
from conftest import device_token, run

DAY = 24 * 60

# STANDARD.md, written out: (role, period, every, times, window) of the templates each level makes.
# Rows checked "each patrol" at levels 1 and 2 make no template of their own.
TEMPLATES = {
    1: {
        "patrol.core": ("guard", "hours", 2, 1, ("00:00", "24:00")),
        "patrol.gate": ("guard", "continuous", 1, 1, ("00:00", "24:00")),
        "clean.sweep": ("cleaner", "day", 1, 1, ("07:00", "11:00")),
        "clean.wipe": ("cleaner", "week", 2, 1, ("00:00", "24:00")),
        "clean.garbage": ("cleaner", "day", 1, 2, ("07:00", "19:00")),
        "clean.bins": ("cleaner", "day", 1, 1, ("07:00", "19:00")),
        "clean.water_snow": ("cleaner", "occurrence", 1, 1, ("00:00", "24:00")),
        "drain.wells": ("cleaner", "month", 1, 1, ("00:00", "24:00")),
        "drain.pipes": ("cleaner", "year", 1, 1, ("00:00", "24:00")),
        "pest.control": ("cleaner", "month", 1, 1, ("00:00", "24:00")),
        "green.inspect": ("gardener", "week", 1, 1, ("00:00", "24:00")),
        "green.hedge": ("gardener", "trigger", 1, 1, ("00:00", "24:00")),
        "light.check": ("guard", "week", 1, 1, ("18:00", "23:00")),
    },
}
TEMPLATES[2] = {**TEMPLATES[1], "clean.wipe": ("cleaner", "month", 1, 1, ("00:00", "24:00"))}
TEMPLATES[3] = {
    **TEMPLATES[2],
    "patrol.core": ("guard", "hours", 4, 1, ("00:00", "24:00")),
    "patrol.gate": ("guard", "contract", 1, 1, ("00:00", "24:00")),
    "patrol.hazard_signs": ("guard", "day", 1, 1, ("08:00", "20:00")),
    "patrol.fire_channel": ("guard", "day", 1, 1, ("08:00", "20:00")),
    "clean.wipe": ("cleaner", "quarter", 1, 1, ("00:00", "24:00")),
    "clean.garbage": ("cleaner", "day", 1, 1, ("07:00", "19:00")),
    "drain.wells": ("cleaner", "quarter", 1, 1, ("00:00", "24:00")),
    "pest.control": ("cleaner", "quarter", 1, 1, ("00:00", "24:00")),
    "green.inspect": ("gardener", "month", 1, 1, ("00:00", "24:00")),
    "green.hedge": ("gardener", "contract", 1, 1, ("00:00", "24:00")),
    "light.check": ("guard", "month", 1, 1, ("18:00", "23:00")),
}
# Deadlines in minutes and rate targets in percent, per level.
DEADLINES = {
    1: {"sla.emergency_repair": 30, "sla.complaint": 120, "sla.dead_tree": 7 * DAY, "sla.outage_notice": 60},
    2: {"sla.emergency_repair": 30, "sla.complaint": 120, "sla.dead_tree": 15 * DAY, "sla.outage_notice": 60},
    3: {"sla.emergency_repair": 30, "sla.complaint": 120, "sla.dead_tree": 30 * DAY, "sla.outage_notice": 60},
}
RATES = {
    1: {"rate.lighting_intact": 98, "rate.repair_followup": 90, "rate.complaint_handled": 95,
        "rate.owner_contact": 50, "rate.satisfaction": 80, "rate.patrol_coverage": 100},
    2: {"rate.lighting_intact": 95, "rate.repair_followup": 80, "rate.complaint_handled": 90,
        "rate.owner_contact": 30, "rate.satisfaction": 80, "rate.patrol_coverage": 100},
    3: {"rate.lighting_intact": 90, "rate.repair_followup": 70, "rate.complaint_handled": 80,
        "rate.owner_contact": 10, "rate.satisfaction": 80, "rate.patrol_coverage": 100},
}
EXTRAPOLATED_AT_3 = {"sla.dead_tree", "rate.lighting_intact", "rate.repair_followup"}


@pytest.fixture
def env(make_site):
    return make_site(roles=("admin", "guard", "gardener"))


def create_site(client, level, name=None):
    name = name or f"新小区-{uuid.uuid4().hex[:6]}"
    response = post(client, "/admin/sites", {"name": name, "level": str(level), "timezone": "Asia/Shanghai",
                                             "address": "测试路1号"})
    return created_id(response, "/admin/sites"), name


def figures_of(site_id):
    from server.sites.tables import SiteFigure

    return {f.code: f for f in run(SiteFigure.objects().where(SiteFigure.site == site_id))}


@pytest.mark.parametrize("level", [1, 2, 3])
def test_creating_a_site_at_each_level_makes_the_standards_templates_deadlines_and_targets(client, env, level):
    from server.rounds.tables import RoundTemplate
    from server.staff.tables import Staff, StaffSite

    as_admin(client, env)
    admin = env["users"]["admin"]
    site_id, name = create_site(client, level)
    templates = run(RoundTemplate.objects().where(RoundTemplate.site == site_id).output(load_json=True))
    made = {t.code: (t.role, t.frequency["period"], t.frequency["every"], t.frequency["times"],
                     (t.window_start, t.window_end)) for t in templates}
    assert made == TEMPLATES[level]
    assert all(t.active for t in templates)
    figures = figures_of(site_id)
    for code, minutes in DEADLINES[level].items():
        assert figures[code].value == minutes and figures[code].default_value == minutes, code
    for code, percent in RATES[level].items():
        assert figures[code].value == percent and figures[code].default_value == percent, code
    flagged = {code for code, f in figures.items() if f.extrapolated and code in {**DEADLINES[3], **RATES[3]}}
    assert flagged == (EXTRAPOLATED_AT_3 if level == 3 else set())
    # Its creator is a member: the site is on their list, and their next pull is a full snapshot.
    assert run(StaffSite.exists().where((StaffSite.staff == admin.id) & (StaffSite.site == site_id)))
    assert run(Staff.select(Staff.sites_seq).where(Staff.id == admin.id).first())["sites_seq"] > admin.sites_seq
    assert name in client.get("/admin/sites").text


def test_site_page_shows_each_figure_beside_the_standard_default(client, env):
    as_admin(client, env)
    site_id, _ = create_site(client, 3)
    html = client.get(f"/admin/sites/{site_id}").text
    row = re.search(r'<tr data-code="sla.dead_tree".*?</tr>', html, re.S).group(0)
    assert 'value="43200"' in row and "30天" in row and "推定" in row
    rate = re.search(r'<tr data-code="rate.lighting_intact".*?</tr>', html, re.S).group(0)
    assert 'value="90"' in rate and "≥ 90 %" in rate


def test_a_changed_figure_is_what_deadlines_use_in_sync(client, env):
    from server.rectifications.services import deadline_for
    from server.rectifications.tables import Rectification
    from server.sites.services import figure

    as_admin(client, env)
    site_id = env["site"].id
    response = post(client, f"/admin/sites/{site_id}/figures",
                    {"fig:sla.dead_tree": "4320", "fig:rate.lighting_intact": "97.5"})
    assert response.status_code == 303
    assert run(figure(site_id, "sla.dead_tree")) == 4320
    assert run(figure(site_id, "rate.lighting_intact")) == 97.5
    start = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
    _code, due, _reason = run(deadline_for(site_id, "dead_tree", "normal", start))
    assert due == start + timedelta(days=3)
    # A gardener's finding pushed from the phone runs against the site's own 3 days, not level 2's 15.
    token = device_token(client, env["users"]["gardener"].username)
    finding_id = str(uuid.uuid4())
    answer = sync_push(client, token, [{"type": "finding.report", "data": {
        "finding_id": finding_id, "site_id": str(site_id), "category": "dead_tree", "severity": "normal"}}])
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "applied", answer.text
    rect = run(Rectification.objects().where(Rectification.id == finding_id).first())
    assert rect.due_at - rect.created_at == timedelta(days=3)
    # The page shows the site's value as customised, with the standard's 15 days beside it.
    html = client.get(f"/admin/sites/{site_id}").text
    row = re.search(r'<tr data-code="sla.dead_tree" class="custom".*?</tr>', html, re.S).group(0)
    assert 'value="4320"' in row and "15天" in row


def test_bad_figures_are_refused_and_change_nothing(client, env):
    from server.sites.services import figure

    as_admin(client, env)
    site_id = env["site"].id
    before = run(figure(site_id, "sla.complaint"))
    for bad in ({"fig:sla.complaint": "abc"}, {"fig:rate.satisfaction": "120"}, {"fig:sla.complaint": "-5"}):
        response = post(client, f"/admin/sites/{site_id}/figures", {"fig:sla.outage_notice": "90", **bad})
        assert response.status_code == 400
        assert page_error(response)
    assert run(figure(site_id, "sla.complaint")) == before
    assert run(figure(site_id, "sla.outage_notice")) == 60


def test_changing_the_level_regenerates_without_touching_history(client, env):
    from server.rounds.tables import PatrolSlot, RoundTemplate
    from server.sites.tables import Site

    as_admin(client, env)
    site_id = env["site"].id
    old = run(RoundTemplate.objects().where((RoundTemplate.site == site_id) & (RoundTemplate.active == True)))  # noqa: E712
    patrol = next(t for t in old if t.code == "patrol.core")
    start = datetime.now(timezone.utc).replace(microsecond=0)
    slot = PatrolSlot(template=patrol.id, site=site_id, window_start=start, window_end=start + timedelta(hours=2),
                      status="missed")
    run(slot.save())
    post(client, f"/admin/sites/{site_id}/figures", {"fig:rate.satisfaction": "85"})
    token = device_token(client, env["users"]["guard"].username)
    response = post(client, f"/admin/sites/{site_id}/level", {"level": "3", "regenerate": "1"})
    assert response.status_code == 303
    assert run(Site.select(Site.level).where(Site.id == site_id).first())["level"] == 3
    templates = run(RoundTemplate.objects().where(RoundTemplate.site == site_id).output(load_json=True))
    # The old templates are kept (history points at them), only retired.
    assert {t.id for t in old} <= {t.id for t in templates}
    assert all(not t.active for t in templates if t.id in {o.id for o in old})
    active = {t.code: t for t in templates if t.active}
    assert set(active) == set(TEMPLATES[3])
    assert active["patrol.core"].frequency["every"] == 4
    # Core checkpoints are in the new patrol with their checkpoints.
    from server.rounds.tables import TemplateItem

    assert run(TemplateItem.count().where(TemplateItem.template == active["patrol.core"].id)) >= 3
    assert run(PatrolSlot.exists().where(PatrolSlot.id == slot.id))
    figures = figures_of(site_id)
    assert figures["sla.dead_tree"].value == 30 * DAY and figures["rate.satisfaction"].value == 80
    # A guard's phone now holds the level-3 rounds only.
    pulled = client.get("/sync/pull", headers={"Authorization": f"Bearer {token}"}).json()
    assert {t["code"] for t in pulled["templates"]} == {c for c, spec in TEMPLATES[3].items() if spec[0] == "guard"}
    assert str(patrol.id) not in {t["id"] for t in pulled["templates"]}


def test_level_change_without_regenerating_keeps_templates_and_values(client, env):
    from server.rounds.tables import RoundTemplate

    as_admin(client, env)
    site_id = env["site"].id
    post(client, f"/admin/sites/{site_id}/figures", {"fig:sla.dead_tree": "1440"})
    before = run(RoundTemplate.select(RoundTemplate.id).where(
        (RoundTemplate.site == site_id) & (RoundTemplate.active == True)))  # noqa: E712
    assert post(client, f"/admin/sites/{site_id}/level", {"level": "1"}).status_code == 303
    after = run(RoundTemplate.select(RoundTemplate.id).where(
        (RoundTemplate.site == site_id) & (RoundTemplate.active == True)))  # noqa: E712
    assert before == after
    figure = figures_of(site_id)["sla.dead_tree"]
    assert (figure.value, figure.default_value) == (1440, 7 * DAY)


def test_webhook_is_shown_masked_and_never_audited(client, env):
    from server.sites.tables import AuditEntry, Site

    as_admin(client, env)
    site_id = env["site"].id
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-robot-key-9f3c"
    response = post(client, f"/admin/sites/{site_id}", {"name": env["site"].name, "timezone": "Asia/Shanghai",
                                                          "address": "", "wecom_webhook": url})
    assert response.status_code == 303
    assert run(Site.select(Site.wecom_webhook).where(Site.id == site_id).first())["wecom_webhook"] == url
    html = client.get(f"/admin/sites/{site_id}").text
    assert "secret-robot-key" not in html and "…9f3c" in html
    # Saving the form with the field left empty keeps the robot.
    post(client, f"/admin/sites/{site_id}", {"name": "改名小区", "timezone": "Asia/Shanghai", "address": ""})
    assert run(Site.select(Site.wecom_webhook).where(Site.id == site_id).first())["wecom_webhook"] == url
    entries = run(AuditEntry.select(AuditEntry.detail).where(AuditEntry.site == site_id))
    assert entries and all("secret-robot-key" not in str(e["detail"]) for e in entries)
    assert "secret-robot-key" not in client.get("/admin/audit").text
    bad = post(client, f"/admin/sites/{site_id}", {"name": "x", "timezone": "Asia/Shanghai",
                                                     "wecom_webhook": "http://insecure.example/hook"})
    assert bad.status_code == 400 and "https" in page_error(bad)
    bad_tz = post(client, f"/admin/sites/{site_id}", {"name": "x", "timezone": "Mars/Olympus"})
    assert bad_tz.status_code == 400
    assert run(Site.select(Site.name).where(Site.id == site_id).first())["name"] == "改名小区"


def test_creating_a_site_with_bad_input_changes_nothing(client, env):
    from server.sites.tables import Site

    as_admin(client, env)
    count = run(Site.count())
    for data in ({"name": "", "level": "2"}, {"name": "x", "level": "4"}, {"name": "x", "level": "two"},
                 {"name": "x", "level": "2", "timezone": "Nowhere/City"}):
        response = post(client, "/admin/sites", data)
        assert response.status_code == 400, data
        assert page_error(response)
    assert run(Site.count()) == count


def test_an_admin_only_reaches_their_own_sites(client, env, make_site):
    other = make_site(roles=("admin",))
    as_admin(client, env)
    assert client.get(f"/admin/sites/{other['site'].id}").status_code == 404
    assert post(client, f"/admin/sites/{other['site'].id}/figures", {"fig:sla.complaint": "1"}).status_code == 404
    assert other["site"].name not in client.get("/admin/sites").text
