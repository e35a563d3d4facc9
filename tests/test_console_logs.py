"""The inspection and rectification logs: every filter, paging, and the CSV export Excel opens in Chinese."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import login, run
from console_data import seeded_site
from server.db import write_transaction
from server.rectifications import services as rects


async def with_graffiti(s: dict[str, Any], n: int = 53) -> None:
    """Many small findings, to page through."""
    async with write_transaction():
        for i in range(n):
            await rects.report_finding(s["users"]["cleaner"], uuid.uuid4(), s["site"].id, "graffiti", "normal",
                                       note=f"小广告{i:02d}", at=datetime.now(timezone.utc) - timedelta(minutes=30 * i))


@pytest.fixture(scope="module")
def seeded() -> dict[str, Any]:
    s = run(seeded_site())
    run(with_graffiti(s))
    return s


@pytest.fixture
def sup(client: Any, seeded: dict[str, Any]) -> Any:
    login(client, seeded["users"]["supervisor"].username)
    return client


def visits(client: Any, s: dict[str, Any], query: str) -> set[str]:
    html = client.get(f"/console/sites/{s['site'].id}/logs/inspection?{query}").text
    return set(re.findall(r'data-visit="([0-9a-f-]+)"', html))


def rect_ids(client: Any, s: dict[str, Any], query: str) -> set[str]:
    html = client.get(f"/console/sites/{s['site'].id}/logs/rectifications?{query}").text
    return set(re.findall(r'data-rect="([0-9a-f-]+)"', html))


def test_inspection_log_filters(sup, seeded):
    both = {str(seeded["visit"].id), str(seeded["ok_visit"].id)}
    today = datetime.now(ZoneInfo(seeded["site"].timezone)).date()
    u, cp = seeded["users"], seeded["checkpoints"]
    assert visits(sup, seeded, "") == both
    assert visits(sup, seeded, "problems=1") == {str(seeded["visit"].id)}
    assert visits(sup, seeded, f"checkpoint={cp['core'].id}") == {str(seeded["ok_visit"].id)}
    assert visits(sup, seeded, f"zone={seeded['zone'].id}") == both
    assert visits(sup, seeded, f"person={u['guard'].id}") == both
    assert visits(sup, seeded, f"person={u['cleaner'].id}") == set()
    assert visits(sup, seeded, "role=guard") == both and visits(sup, seeded, "role=cleaner") == set()
    assert visits(sup, seeded, "category=patrol") == both and visits(sup, seeded, "category=cleaning") == set()
    assert visits(sup, seeded, f"template={seeded['templates']['patrol.core'].id}") == both
    assert visits(sup, seeded, "state=finished") == both and visits(sup, seeded, "state=open") == set()
    assert visits(sup, seeded, f"from={today}&to={today}") == both
    assert visits(sup, seeded, f"to={today - timedelta(days=1)}") == set()


def test_rectification_log_filters(sup, seeded):
    u = seeded["users"]
    fresh, overdue, reused, complaint = (str(seeded[k]) for k in ("fresh", "overdue", "reused", "complaint"))
    assert rect_ids(sup, seeded, "category=drain") == {overdue}
    assert rect_ids(sup, seeded, "category=fire_safety&state=open") == {fresh}
    assert rect_ids(sup, seeded, "category=complaint&state=unverified") == {complaint}
    assert rect_ids(sup, seeded, "state=verified") == set()
    assert rect_ids(sup, seeded, "problems=1") == {overdue}
    assert rect_ids(sup, seeded, f"person={u['guard'].id}") == {fresh, overdue}
    assert rect_ids(sup, seeded, "role=guard") == {fresh, overdue}
    assert rect_ids(sup, seeded, f"zone={seeded['zone'].id}") == {fresh}
    assert rect_ids(sup, seeded, f"checkpoint={seeded['checkpoints']['car_park'].id}") == {fresh}
    assert rect_ids(sup, seeded, "sla=sla.complaint") == {complaint}
    assert rect_ids(sup, seeded, "category=complaint&followup=no") == {complaint}
    assert rect_ids(sup, seeded, "followup=yes") == set()
    two_days_ago = (datetime.now(timezone.utc) - timedelta(days=2)).date()
    assert rect_ids(sup, seeded, f"category=drain&to={two_days_ago}") == {overdue}


def test_pages_of_fifty_with_the_filter_kept(sup, seeded):
    base = f"/console/sites/{seeded['site'].id}/logs/rectifications"
    first = sup.get(f"{base}?category=graffiti").text
    assert first.count("data-rect=") == 50 and "第1/2页, 共53条" in first
    assert 'href="' + base + '?category=graffiti&amp;page=2" rel="next"' in first
    second = sup.get(f"{base}?category=graffiti&page=2").text
    assert second.count("data-rect=") == 3 and 'rel="prev"' in second
    assert rect_ids(sup, seeded, "category=graffiti") & rect_ids(sup, seeded, "category=graffiti&page=2") == set()


def test_filtering_with_htmx_returns_the_log_partial(sup, seeded):
    response = sup.get(f"/console/sites/{seeded['site'].id}/logs/rectifications?category=drain",
                       headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<section id="log"')
    assert str(seeded["overdue"]) in response.text and "<html" not in response.text


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv") and "utf-8" in response.headers["content-type"]
    assert response.headers["content-disposition"].startswith('attachment; filename="xunjian-')
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_rectification_csv_follows_the_filter_without_paging(sup, seeded):
    rows = read_csv(sup.get(f"/console/sites/{seeded['site'].id}/logs/rectifications.csv?category=graffiti&page=2"))
    assert rows[0][:4] == ["登记时间", "类别", "紧急程度", "状态"]
    assert len(rows) == 1 + 53 and all(r[1] == "乱张贴乱涂画" for r in rows[1:])
    assert {r[-1] for r in rows[1:]} == rect_ids(sup, seeded, "category=graffiti") | rect_ids(
        sup, seeded, "category=graffiti&page=2")


def test_inspection_csv_has_answers_times_and_proof(sup, seeded):
    rows = read_csv(sup.get(f"/console/sites/{seeded['site'].id}/logs/inspection.csv?problems=1"))
    header, body = rows[0], rows[1:]
    assert len(body) == 1 and body[0][-1] == str(seeded["visit"].id)
    record = dict(zip(header, body[0]))
    assert record["打卡方式"] == "code" and "NG (堵了)" in record["检查项"] and record["位置"] == "31.230000,121.470000"
    assert record["缺照片"] == "1" and record["时间(校正)"] and record["服务器接收"]


def test_csv_cells_cannot_become_excel_formulas(sup, seeded):
    run(rects.report_finding(seeded["users"]["guard"], uuid.uuid4(), seeded["site"].id, "pests", "normal",
                             note='=HYPERLINK("http://evil.example","点我")', at=datetime.now(timezone.utc)))
    rows = read_csv(sup.get(f"/console/sites/{seeded['site'].id}/logs/rectifications.csv?category=pests"))
    note = dict(zip(rows[0], rows[1]))["说明"]
    assert note == "'=HYPERLINK(\"http://evil.example\",\"点我\")"


def test_csv_in_english_for_an_english_reader(sup, seeded):
    sup.get("/lang/en")
    rows = read_csv(sup.get(f"/console/sites/{seeded['site'].id}/logs/rectifications.csv?category=drain"))
    sup.get("/lang/zh-CN")
    assert rows[0][:2] == ["Reported", "Category"] and rows[1][1] == "Blocked or dirty drain or well"
