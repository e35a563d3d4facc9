"""The rectification workflow and reception from the console: the shared state machine and history,
CSRF on every form, and bad input that changes nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import csrf_of, login, run
from console_data import finding, new_site, step
from server.rectifications.tables import Rectification, RectTransition

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def site() -> dict[str, Any]:
    return run(new_site(level=2, created_at=datetime.now(timezone.utc) - timedelta(days=2)))


@pytest.fixture
def sup(client: Any, site: dict[str, Any]) -> Any:
    assert login(client, site["users"]["supervisor"].username).status_code == 303
    return client


def base(site: dict[str, Any]) -> str:
    return f"/console/sites/{site['site'].id}"


def new_finding(site: dict[str, Any], category: str = "facility") -> Any:
    return run(finding(site["users"]["guard"], site["site"].id, category, datetime.now(timezone.utc)))


def rect(rect_id: Any) -> dict[str, Any]:
    return run(Rectification.select().where(Rectification.id == rect_id).first())


def history(rect_id: Any) -> list[dict[str, Any]]:
    return run(RectTransition.select().where(RectTransition.rectification == rect_id).order_by(
        RectTransition.position))


def post(client: Any, site: dict[str, Any], rect_id: Any, action: str, htmx: bool = False, **form: str) -> Any:
    page = f"{base(site)}/rectifications/{rect_id}"
    form["_csrf_token"] = csrf_of(client, page)
    return client.post(f"{page}/{action}", data=form, follow_redirects=False,
                       headers={"HX-Request": "true"} if htmx else {})


def test_assign_to_a_technician_then_reassign_to_the_gardener(sup, site):
    rid = new_finding(site)
    response = post(sup, site, rid, "assign", assignee=str(site["users"]["technician"].id))
    assert response.status_code == 303 and response.headers["location"] == f"{base(site)}/rectifications/{rid}"
    assert rect(rid)["state"] == "assigned" and rect(rid)["assignee"] == site["users"]["technician"].id
    response = post(sup, site, rid, "assign", htmx=True, assignee=str(site["users"]["gardener"].id), note="换人")
    assert response.status_code == 200 and response.text.lstrip().startswith("<article id=\"rect\"")
    assert rect(rid)["assignee"] == site["users"]["gardener"].id
    steps = history(rid)
    assert [(s["action"], s["outcome"], s["source"]) for s in steps] == [("assign", "applied", "console")] * 2
    assert steps[1]["note"] == "换人" and rect(rid)["seq"] > 0
    html = sup.get(f"{base(site)}/rectifications/{rid}").text
    assert html.count('data-action="assign" data-outcome="applied"') == 2 and "gardener " + site["tag"] in html
    assert html.count('data-action="open"') == 1  # the guard's report heads the timeline


@pytest.mark.parametrize("who", ["supervisor", "nobody", "other_site", "garbage"])
def test_assigning_to_someone_who_is_not_field_staff_of_the_site_is_refused(sup, site, who):
    rid = new_finding(site)
    other = run(new_site(level=3)) if who == "other_site" else None
    assignee = {"supervisor": str(site["users"]["supervisor"].id), "nobody": "00000000-0000-0000-0000-000000000001",
                "other_site": str(other["users"]["technician"].id) if other else "", "garbage": "x"}[who]
    response = post(sup, site, rid, "assign", htmx=True, assignee=assignee)
    assert response.status_code == 400 and 'data-code="bad_assignee"' in response.text
    assert rect(rid)["state"] == "open" and history(rid) == []
    assert post(sup, site, rid, "assign", assignee=assignee).status_code == 400  # a plain form: the error page


def test_verify_a_fix_from_the_phone_side(sup, site):
    rid = new_finding(site)
    tech = site["users"]["technician"]
    run(step(rid, tech, "start", datetime.now(timezone.utc)))
    run(step(rid, tech, "fix", datetime.now(timezone.utc)))
    html = sup.get(f"{base(site)}/rectifications/{rid}").text
    assert 'data-action="verify"' in html and 'data-action="assign"' not in html
    assert post(sup, site, rid, "verify", note="验收合格").status_code == 303
    assert rect(rid)["state"] == "verified" and rect(rid)["verified_at"] is not None
    html = sup.get(f"{base(site)}/rectifications/{rid}").text
    assert 'data-state="verified"' in html and 'action="' + f"{base(site)}/rectifications/{rid}/verify" not in html
    assert [s["action"] for s in history(rid)] == ["start", "fix", "verify"]


def test_a_step_no_longer_valid_is_kept_as_a_conflict(sup, site):
    rid = new_finding(site)
    response = post(sup, site, rid, "verify")
    assert response.status_code == 303 and response.headers["location"].endswith("?notice=conflict")
    assert rect(rid)["state"] == "open"
    assert [(s["action"], s["outcome"]) for s in history(rid)] == [("verify", "conflict")]
    html = sup.get(response.headers["location"]).text
    assert 'data-notice="conflict"' in html and 'data-outcome="conflict"' in html


def test_reopen_needs_a_reason_and_keeps_the_assignee(sup, site):
    rid = new_finding(site)
    tech = site["users"]["technician"]
    run(step(rid, site["users"]["supervisor"], "assign", datetime.now(timezone.utc), assignee_id=tech.id))
    run(step(rid, tech, "fix", datetime.now(timezone.utc)))
    response = post(sup, site, rid, "reopen", htmx=True, note="  ")
    assert response.status_code == 400 and 'data-code="reason_required"' in response.text
    assert rect(rid)["state"] == "fixed"
    assert post(sup, site, rid, "reopen", note="照片看不清, 请重拍").status_code == 303
    r = rect(rid)
    assert r["state"] == "reopened" and r["assignee"] == tech.id and r["fixed_at"] is None
    assert history(rid)[-1]["note"] == "照片看不清, 请重拍"


def test_change_the_deadline_with_a_reason(sup, site):
    rid = new_finding(site)
    old_due = rect(rid)["due_at"]
    new_local = (datetime.now(TZ) + timedelta(days=5)).replace(second=0, microsecond=0)
    response = post(sup, site, rid, "deadline", due_at=new_local.strftime("%Y-%m-%dT%H:%M"), note="等配件")
    assert response.status_code == 303
    r = rect(rid)
    assert r["due_at"] == new_local.astimezone(timezone.utc) and r["due_reason"] == "等配件" and r["due_at"] != old_due
    last = history(rid)[-1]
    assert last["action"] == "deadline" and last["outcome"] == "applied" and "等配件" in last["note"]
    assert new_local.strftime("%Y-%m-%d %H:%M") in last["note"]
    for bad in ({"due_at": "2025-13-40T99:00", "note": "x"}, {"due_at": new_local.strftime("%Y-%m-%dT%H:%M"), "note": ""}):
        assert post(sup, site, rid, "deadline", **bad).status_code == 400
    assert rect(rid)["due_at"] == r["due_at"] and len(history(rid)) == 1


def test_comment_in_any_state_and_unknown_actions(sup, site):
    rid = new_finding(site)
    assert post(sup, site, rid, "comment", note="已电话联系物业维修班").status_code == 303
    assert post(sup, site, rid, "comment", note="").status_code == 400
    assert post(sup, site, rid, "explode", note="x").status_code == 400
    assert post(sup, site, rid, "fix").status_code == 400  # not a console action: the phone fixes, with a photo
    assert [(s["action"], s["to_state"]) for s in history(rid)] == [("comment", "open")]
    assert "已电话联系物业维修班" in sup.get(f"{base(site)}/rectifications/{rid}").text


def test_every_form_needs_the_csrf_token(sup, site):
    rid = new_finding(site)
    page = f"{base(site)}/rectifications/{rid}"
    html = sup.get(page).text
    assert len(re.findall(r'<form method="post"', html)) == len(re.findall(r'name="_csrf_token"', html))
    for action, form in [("assign", {"assignee": str(site["users"]["technician"].id)}), ("comment", {"note": "x"}),
                         ("deadline", {"due_at": "2030-01-01T10:00", "note": "x"})]:
        assert sup.post(f"{page}/{action}", data=form).status_code == 403
        assert sup.post(f"{page}/{action}", data={**form, "_csrf_token": "forged"}).status_code == 403
    assert sup.post(f"{base(site)}/reception", data={"category": "repair", "unit": "1", "note": "x"}).status_code == 403
    assert rect(rid)["state"] == "open" and history(rid) == []


def test_field_staff_and_other_sites_cannot_act(client, site):
    rid = new_finding(site)
    login(client, site["users"]["technician"].username)
    page = f"{base(site)}/rectifications/{rid}"
    token = csrf_of(client, "/login")
    response = client.post(f"{page}/assign", data={"assignee": str(site["users"]["technician"].id),
                                                   "_csrf_token": token})
    assert response.status_code == 403
    other = run(new_site(level=2))
    login(client, other["users"]["supervisor"].username)
    token = csrf_of(client, "/login")
    response = client.post(f"{page}/comment", data={"note": "x", "_csrf_token": token})
    assert response.status_code == 404
    response = client.post(f"/console/sites/{other['site'].id}/rectifications/{rid}/comment",
                           data={"note": "x", "_csrf_token": token})
    assert response.status_code == 404
    assert history(rid) == []


def test_reception_logs_an_emergency_repair_with_a_30_minute_clock(sup, site):
    token = csrf_of(sup, f"{base(site)}/reception")
    before = datetime.now(timezone.utc)
    response = sup.post(f"{base(site)}/reception", follow_redirects=False, data={
        "_csrf_token": token, "category": "repair", "severity": "emergency", "channel": "phone",
        "unit": "3栋2单元501", "contact": "13800000000", "note": "厨房水管爆裂",
        "assignee": str(site["users"]["technician"].id)})
    assert response.status_code == 303
    rid = response.headers["location"].rsplit("/", 1)[1]
    r = rect(rid)
    assert (r["source"], r["category"], r["severity"], r["sla_code"]) == ("reception", "repair", "emergency",
                                                                         "sla.emergency_repair")
    assert r["resident_unit"] == "3栋2单元501" and r["resident_contact"] == "13800000000" and "[来电]" in r["note"]
    assert timedelta(minutes=30) == r["due_at"] - r["created_at"] and r["created_at"] >= before - timedelta(seconds=1)
    assert r["state"] == "assigned" and r["assignee"] == site["users"]["technician"].id
    html = sup.get(f"{base(site)}/reception").text
    row = html.split(f'data-rect="{rid}"')[1].split("</tr>")[0]
    assert "3栋2单元501" in row and "紧急" in row and "已指派" in row


def test_reception_complaint_has_the_2_hour_clock_and_agreed_repairs_their_time(sup, site):
    token = csrf_of(sup, f"{base(site)}/reception")
    response = sup.post(f"{base(site)}/reception", follow_redirects=False, data={
        "_csrf_token": token, "category": "complaint", "severity": "normal", "channel": "walk_in",
        "unit": "5栋", "note": "楼道堆放杂物"})
    r = rect(response.headers["location"].rsplit("/", 1)[1])
    assert r["sla_code"] == "sla.complaint" and r["due_at"] - r["created_at"] == timedelta(minutes=120)
    agreed = (datetime.now(TZ) + timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
    response = sup.post(f"{base(site)}/reception", follow_redirects=False, data={
        "_csrf_token": token, "category": "repair", "severity": "normal", "channel": "phone",
        "unit": "7栋", "note": "换灯泡", "agreed_at": agreed.strftime("%Y-%m-%dT%H:%M")})
    rid = response.headers["location"].rsplit("/", 1)[1]
    r = rect(rid)
    assert r["sla_code"] == "sla.scheduled_repair" and r["due_at"] == agreed.astimezone(timezone.utc)
    assert [s["action"] for s in history(rid)] == ["open", "deadline"]


@pytest.mark.parametrize("form", [
    {"category": "repair", "unit": "", "note": "x"},
    {"category": "repair", "unit": "1栋", "note": ""},
    {"category": "hazard", "unit": "1栋", "note": "x"},
    {"category": "repair", "severity": "panic", "unit": "1栋", "note": "x"},
    {"category": "repair", "channel": "pigeon", "unit": "1栋", "note": "x"},
    {"category": "repair", "unit": "1栋", "note": "x", "assignee": "not-a-uuid"},
    {"category": "repair", "unit": "1栋", "note": "x", "agreed_at": "tomorrow"},
    {"category": "repair", "unit": "1栋", "note": "x" * 2001},
])
def test_bad_reception_input_is_400_and_logs_nothing(sup, site, form):
    count = run(Rectification.count().where(Rectification.site == site["site"].id))
    token = csrf_of(sup, f"{base(site)}/reception")
    response = sup.post(f"{base(site)}/reception", data={"_csrf_token": token, **form})
    assert response.status_code == 400 and 'role="alert"' in response.text
    assert run(Rectification.count().where(Rectification.site == site["site"].id)) == count


def test_follow_up_only_once_and_only_after_verification(sup, site):
    r = run(_verified_repair(site))
    page_before = sup.get(f"{base(site)}/rectifications/{r['pending']}").text
    assert 'data-action="followup"' not in page_before
    assert post(sup, site, r["pending"], "followup", outcome="满意").status_code == 409
    assert 'data-action="followup"' in sup.get(f"{base(site)}/rectifications/{r['verified']}").text
    assert post(sup, site, r["verified"], "followup", outcome="").status_code == 400
    assert post(sup, site, r["verified"], "followup", outcome="住户满意").status_code == 303
    assert post(sup, site, r["verified"], "followup", outcome="again").status_code == 409
    got = rect(r["verified"])
    assert got["followup_outcome"] == "住户满意" and got["followup_at"] is not None
    assert [s["action"] for s in history(r["verified"])][-1] == "followup"


async def _verified_repair(site: dict[str, Any]) -> dict[str, Any]:
    from server.rectifications import services as rects

    sup, tech = site["users"]["supervisor"], site["users"]["technician"]
    now = datetime.now(timezone.utc)
    verified = await rects.open_reception(sup, site["site"].id, "repair", note="门锁坏", resident_unit="9栋", at=now)
    await step(verified.id, tech, "fix", now)
    await step(verified.id, sup, "verify", now)
    pending = await rects.open_reception(sup, site["site"].id, "repair", note="窗户漏风", resident_unit="9栋", at=now)
    return {"verified": verified.id, "pending": pending.id}
