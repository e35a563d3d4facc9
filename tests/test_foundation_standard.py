"""The standard as data: a site's level generates the figures of shared/STANDARD.md.

The expected figures are written out here from STANDARD.md, not read from the
same JSON the product uses, so a wrong data file fails.
"""

from __future__ import annotations

import pytest

from conftest import run

DAY = 24 * 60
# code: (level 1, level 2, level 3) in minutes
DEADLINES = {
    "sla.emergency_repair": (30, 30, 30),
    "sla.complaint": (120, 120, 120),
    "sla.dead_tree": (7 * DAY, 15 * DAY, 30 * DAY),
    "sla.outage_notice": (60, 60, 60),
}
RATES = {
    "rate.lighting_intact": (98, 95, 90),
    "rate.repair_followup": (90, 80, 70),
    "rate.complaint_handled": (95, 90, 80),
    "rate.owner_contact": (50, 30, 10),
    "rate.satisfaction": (80, 80, 80),
    "rate.patrol_coverage": (100, 100, 100),
}
# code: per level (period, every, times)
ROUNDS = {
    "patrol.core": (("hours", 2, 1), ("hours", 2, 1), ("hours", 4, 1)),
    "clean.sweep": (("day", 1, 1), ("day", 1, 1), ("day", 1, 1)),
    "clean.wipe": (("week", 2, 1), ("month", 1, 1), ("quarter", 1, 1)),
    "clean.garbage": (("day", 1, 2), ("day", 1, 2), ("day", 1, 1)),
    "clean.bins": (("day", 1, 1), ("day", 1, 1), ("day", 1, 1)),
    "drain.wells": (("month", 1, 1), ("month", 1, 1), ("quarter", 1, 1)),
    "drain.pipes": (("year", 1, 1), ("year", 1, 1), ("year", 1, 1)),
    "pest.control": (("month", 1, 1), ("month", 1, 1), ("quarter", 1, 1)),
    "green.inspect": (("week", 1, 1), ("week", 1, 1), ("month", 1, 1)),
    "light.check": (("week", 1, 1), ("week", 1, 1), ("month", 1, 1)),
}
ROLES = {"patrol.core": "guard", "clean.garbage": "cleaner", "drain.wells": "cleaner", "green.inspect": "gardener"}
EXTRAPOLATED_AT_LEVEL_3 = {"patrol.core", "clean.wipe", "clean.garbage", "drain.wells", "pest.control", "green.inspect"}


@pytest.mark.parametrize("level", [1, 2, 3])
def test_site_level_generates_standard_figures_and_templates(level, make_site):
    from server.rounds.tables import RoundTemplate, TemplateItem
    from server.sites.tables import SiteFigure

    env = make_site(level=level)
    site_id = env["site"].id
    figures = {f["code"]: f for f in run(SiteFigure.select().where(SiteFigure.site == site_id))}
    for code, values in DEADLINES.items():
        assert figures[code]["value"] == values[level - 1], code
        assert figures[code]["kind"] == "sla"
    for code, values in RATES.items():
        assert figures[code]["value"] == values[level - 1], code
        assert figures[code]["default_value"] == values[level - 1]
    assert figures["rate.lighting_intact"]["extrapolated"] is (level == 3)

    templates = {t["code"]: t for t in run(RoundTemplate.select().where(RoundTemplate.site == site_id).output(load_json=True))}
    for code, per_level in ROUNDS.items():
        period, every, times = per_level[level - 1]
        freq = templates[code]["frequency"]
        assert (freq["period"], freq["every"], freq["times"]) == (period, every, times), (code, freq)
    for code, role in ROLES.items():
        assert templates[code]["role"] == role
    assert templates["patrol.core"]["proof"] == "qr" and templates["clean.sweep"]["proof"] == "any"
    for code in EXTRAPOLATED_AT_LEVEL_3:
        assert templates[code]["extrapolated"] is (level == 3 or code == "green.inspect"), code

    # Warning signs and fire lanes: checked on each patrol at levels 1-2, a daily round of their own at 3.
    patrol_items = run(TemplateItem.select().where(TemplateItem.template == templates["patrol.core"]["id"]).output(load_json=True))
    patrol_checks = {c["id"] for item in patrol_items for c in item["checks"]}
    if level < 3:
        assert {"fire_lane", "extinguisher"} <= patrol_checks
        assert "patrol.fire_channel" not in templates
    else:
        assert "fire_lane" not in patrol_checks
        assert templates["patrol.fire_channel"]["frequency"]["period"] == "day"


def test_every_figure_is_editable_per_site(make_site):
    from server.sites.services import figure
    from server.sites.tables import SiteFigure

    a, b = make_site(level=2), make_site(level=2)
    run(SiteFigure.update({SiteFigure.value: 10 * DAY}).where(
        (SiteFigure.site == a["site"].id) & (SiteFigure.code == "sla.dead_tree")))
    assert run(figure(a["site"].id, "sla.dead_tree")) == 10 * DAY
    assert run(figure(b["site"].id, "sla.dead_tree")) == 15 * DAY
    row = run(SiteFigure.select().where((SiteFigure.site == a["site"].id) & (SiteFigure.code == "sla.dead_tree")).first())
    assert row["default_value"] == 15 * DAY  # the standard's default stays beside the site's own value


def test_categories_carry_both_languages_and_deadlines():
    from server import standard

    codes = standard.category_codes()
    assert codes[:14] == ["hazard", "dead_tree", "drain", "lighting", "fire_safety", "warning_sign", "garbage",
                          "water_snow", "illegal_build", "graffiti", "pests", "road", "facility", "other"]
    assert set(codes[14:]) == {"repair", "complaint"}
    assert standard.category("dead_tree")["zh"] == "枯死树木"
    assert standard.sla_code_for("dead_tree", "normal") == "sla.dead_tree"
    assert standard.sla_code_for("complaint", "normal") == "sla.complaint"
    assert standard.sla_code_for("repair", "emergency") == "sla.emergency_repair"


def test_same_day_deadline_ends_at_local_midnight():
    from datetime import datetime, timezone

    from server import standard

    start = datetime(2026, 6, 1, 7, 30, tzinfo=timezone.utc)  # 15:30 in Shanghai
    due = standard.due_at("sla.hedge_clippings", 0, start, "Asia/Shanghai")
    assert due.isoformat() == "2026-06-02T00:00:00+08:00"


def test_demo_site_has_what_the_issue_lists(demo_site):
    from server.rounds.tables import RoundTemplate, TemplateItem
    from server.sites.tables import Checkpoint, Zone
    from server.staff.tables import Staff

    assert demo_site.level == 2
    zones = {z["name"] for z in run(Zone.select(Zone.name).where(Zone.site == demo_site.id))}
    assert {"地下车库B1", "1号楼", "6号楼", "花园", "主出入口", "设备房"} <= zones
    assert run(Checkpoint.count().where(Checkpoint.site == demo_site.id)) >= 12
    usernames = {s["username"] for s in run(Staff.select(Staff.username))}
    assert {"guard1", "cleaner1", "gardener1", "tech1", "supervisor1", "admin"} <= usernames
    templates = {t["code"]: t for t in run(RoundTemplate.select().where(RoundTemplate.site == demo_site.id).output(load_json=True))}
    for code in ("patrol.core", "clean.sweep", "drain.wells", "green.inspect"):
        items = run(TemplateItem.count().where(TemplateItem.template == templates[code]["id"]))
        assert items >= 1, code
    assert templates["patrol.core"]["frequency"]["every"] == 2
