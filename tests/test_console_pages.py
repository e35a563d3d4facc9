"""Every console page as a supervisor sees it, and who may not see it (field staff 403, other sites 404)."""

from __future__ import annotations

import re

from datetime import timedelta
from typing import Any

import pytest

from conftest import login, run
from console_data import seeded_site
from litestar.testing import TestClient

from phone import Phone
from server.rectifications.tables import Finding, Rectification

PAGES = [
    "/today", "/review", "/review?kind=finding", "/review?kind=visit", "/logs/inspection", "/logs/inspection.csv",
    "/logs/rectifications", "/logs/rectifications.csv", "/logs/slots", "/reception", "/report",
    "/report?month=2025-01",
]


@pytest.fixture(scope="module")
def seeded(app: Any) -> dict[str, Any]:
    s = run(seeded_site())
    with TestClient(app=app, base_url="http://testserver.local") as http:
        # The guard's phone runs 12 minutes fast; the cleaner's phone has pulled; the gardener's never synced.
        guard = Phone(http, s["users"]["guard"].username, device_id="guard-phone-1",
                      clock_offset=timedelta(minutes=12)).login()
        guard.transition(str(s["fresh"]), "comment", note="现场已拉警戒线")
        assert [r["status"] for r in guard.push()] == ["applied"]
        Phone(http, s["users"]["cleaner"].username).login().pull()
    return s


def base(s: dict[str, Any]) -> str:
    return f"/console/sites/{s['site'].id}"


def as_supervisor(client: Any, s: dict[str, Any]) -> Any:
    assert login(client, s["users"]["supervisor"].username).status_code == 303
    return client


def test_supervisor_lands_on_today_of_their_only_site(client, seeded):
    response = login(client, seeded["users"]["supervisor"].username)
    assert response.headers["location"] == "/console"
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"{base(seeded)}/today"


def test_demo_supervisor_lands_on_the_demo_site(client, demo_site):
    login(client, "supervisor1")
    response = client.get("/console", follow_redirects=True)
    assert response.status_code == 200 and "阳光花园" in response.text and 'id="today"' in response.text


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_for_the_supervisor(client, seeded, path):
    response = as_supervisor(client, seeded).get(base(seeded) + path)
    assert response.status_code == 200, response.text[:500]


@pytest.mark.parametrize("role", ["guard", "cleaner", "gardener", "technician"])
def test_field_staff_cannot_open_the_console(client, seeded, role):
    login(client, seeded["users"][role].username)
    assert client.get("/console").status_code == 403
    for path in PAGES + [f"/rectifications/{seeded['fresh']}", f"/rounds/{seeded['round'].id}"]:
        response = client.get(base(seeded) + path)
        assert response.status_code == 403, path
        assert "您无权访问此页面" in response.text


@pytest.mark.parametrize("path", PAGES + ["/rectifications/{fresh}", "/rounds/{round}", "/goto/visit/{visit}"])
def test_a_supervisor_of_another_site_gets_404(client, seeded, path):
    other = seeded["other"]
    login(client, other["users"]["supervisor"].username)
    path = path.format(fresh=seeded["fresh"], round=seeded["round"].id, visit=seeded["visit"].id)
    assert client.get(base(seeded) + path).status_code == 404
    # ...and their own site's pages cannot reach this site's records either.
    if path.startswith("/rectifications/"):
        assert client.get(base(other) + path).status_code == 404


def test_anonymous_is_sent_to_login(client, seeded):
    response = client.get(base(seeded) + "/today", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")


def test_today_shows_slots_deadlines_findings_skew_gaps_and_syncs(client, seeded):
    html = as_supervisor(client, seeded).get(base(seeded) + "/today").text
    assert 'hx-trigger="every 30s"' in html and '<script src="/static/vendor/htmx-2.0.11.min.js"' in html
    assert html.count('class="slot slot-') == 12  # every 2 h, today
    # The round visited two of the patrol's checkpoints and skipped the rest: incomplete, not done.
    assert 'data-status="incomplete"' in html and 'data-status="done"' not in html
    assert re.search(r"未完成 2/[3-9]", html) and "guard " + seeded["tag"] in html
    assert 'class="proof proof-code"' in html  # the round's car park visit went by short code
    overdue_row = html.split(f'rectifications/{seeded["overdue"]}"')[0].rsplit("<tr", 1)[1]
    assert 'data-flag="overdue"' in overdue_row
    soon_row = html.split(f'rectifications/{seeded["complaint"]}"')[0].rsplit("<tr", 1)[1]
    assert 'data-flag="soon"' in soon_row
    assert f'rectifications/{seeded["fresh"]}' in html and "消防通道被占" in html  # waiting for review
    assert 'data-skew="12"' in html and "快了12分钟" in html and "guard-phone-1" in html
    assert "缺1张照片" in html  # the visit's second photo never came
    syncs = html.split('class="plain">')[-1]
    cleaner = syncs.split("cleaner " + seeded["tag"])[1].split("</li>")[0]
    gardener = syncs.split("gardener " + seeded["tag"])[1].split("</li>")[0]
    assert "从未同步" not in cleaner and "从未同步" in gardener


def test_today_polling_gets_only_the_partial(client, seeded):
    response = as_supervisor(client, seeded).get(base(seeded) + "/today", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="today"') and "<html" not in response.text


def test_review_shows_photos_times_proof_position_round_link_and_reuse(client, seeded):
    c = as_supervisor(client, seeded)
    html = c.get(base(seeded) + "/review?kind=finding").text
    assert f'/photos/{seeded["photo_b"]}?size=thumb' in html and f'/photos/{seeded["photo_b"]}?size=full' in html
    assert f'rounds/{seeded["round"].id}"' in html  # click-through to the round of the finding
    reused = html.split(f'id="finding-{seeded["reused"]}"')[1].split("</article>")[0]
    assert "疑似重复使用的照片" in reused and f'goto/finding/{seeded["fresh"]}' in reused
    assert "设备时间" in html and "服务器接收" in html
    target = c.get(base(seeded) + f'/goto/finding/{seeded["fresh"]}', follow_redirects=False)
    assert target.headers["location"] == f'{base(seeded)}/rectifications/{seeded["fresh"]}'

    visits = c.get(base(seeded) + "/review?kind=visit").text
    assert f'/photos/{seeded["photo_a"]}?size=thumb' in visits and "照片尚未上传" in visits
    assert "手输编码" in visits and "31.23000, 121.47000" in visits and "±8 m" in visits


def test_a_photo_is_served_to_the_supervisor(client, seeded):
    response = as_supervisor(client, seeded).get(f'/photos/{seeded["photo_b"]}?size=thumb')
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/")


def test_round_page_shows_visits_answers_photos_and_slot(client, seeded):
    html = as_supervisor(client, seeded).get(base(seeded) + f'/rounds/{seeded["round"].id}').text
    assert f'id="visit-{seeded["visit"].id}"' in html and f'id="visit-{seeded["ok_visit"].id}"' in html
    assert "异常 · 堵了" in html and "消防通道被占" in html  # the failed check and the finding it raised
    assert f'/photos/{seeded["photo_a"]}?size=thumb' in html
    # The window it settled, incomplete, and which of the template's checkpoints had no visit.
    assert re.search(r'data-status="incomplete">未完成 2/[3-9]<', html) and "按时完成" not in html
    skipped = re.search(r'<section class="skipped" id="skipped">(.*?)</section>', html, re.S).group(1)
    assert "core-" not in skipped and "car_park-" not in skipped and skipped.count('class="skipped-checkpoint"') >= 1


def test_marking_a_finding_reviewed_takes_it_off_today(client, seeded):
    c = as_supervisor(client, seeded)
    page = c.get(base(seeded) + "/review?pending=1").text
    token = page.split('name="_csrf_token" value="')[1].split('"')[0]
    url = base(seeded) + f'/findings/{seeded["reused"]}/reviewed'
    assert c.post(url, data={}).status_code == 403  # no CSRF token
    assert run(Finding.select(Finding.reviewed).where(Finding.id == seeded["reused"]).first())["reviewed"] is False
    response = c.post(url, data={"_csrf_token": token}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "已审核" in response.text
    assert run(Finding.select(Finding.reviewed).where(Finding.id == seeded["reused"]).first())["reviewed"] is True
    assert f'rectifications/{seeded["reused"]}"' not in c.get(base(seeded) + "/review?pending=1").text


def test_pages_speak_english_when_asked(client, seeded):
    c = as_supervisor(client, seeded)
    c.get("/lang/en")
    html = c.get(base(seeded) + "/today").text
    assert "Rectifications by deadline" in html and '<html lang="en">' in html
    c.get("/lang/zh-CN")


def test_bad_query_values_are_400_not_500(client, seeded):
    c = as_supervisor(client, seeded)
    for path in ["/report?month=2025-13", "/report?month=abc", "/logs/slots?month=x", "/logs/slots?status=nope",
                 "/review?kind=nope", "/review?page=x", "/logs/inspection?zone=nope", "/logs/inspection?from=31-12-2025",
                 "/logs/rectifications?state=gone", "/logs/rectifications?from=2025-02-01&to=2025-01-01"]:
        assert c.get(base(seeded) + path).status_code == 400, path
    assert c.get(base(seeded) + "/rectifications/00000000-0000-0000-0000-000000000000").status_code == 404
    assert run(Rectification.count().where(Rectification.site == seeded["site"].id)) == 4


def test_a_supervisor_of_two_sites_chooses_one(client, seeded):
    from server.staff.tables import StaffSite

    other = seeded["other"]
    sup = other["users"]["supervisor"]
    run(StaffSite.insert(StaffSite(staff=sup.id, site=seeded["site"].id)))
    try:
        login(client, sup.username)
        html = client.get("/console").text
        assert f'href="/console/sites/{seeded["site"].id}/today"' in html
        assert f'href="/console/sites/{other["site"].id}/today"' in html and "一级" in html
        response = client.get(f'/console/sites/{other["site"].id}', follow_redirects=False)
        assert response.headers["location"] == f'/console/sites/{other["site"].id}/today'
        target = client.get(base(seeded) + f'/goto/visit/{seeded["visit"].id}', follow_redirects=False)
        assert target.headers["location"] == f'{base(seeded)}/rounds/{seeded["round"].id}#visit-{seeded["visit"].id}'
    finally:
        run(StaffSite.delete().where((StaffSite.staff == sup.id) & (StaffSite.site == seeded["site"].id)))
