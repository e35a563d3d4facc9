"""Patrol windows on the phone's home screen agree with the server (real Chromium, a live server).

The phone shows the server's status for every window of the pull's due[] and
judges, by web/static/app/schedule.js, only the rounds it finished offline since:
a round started just before the next window opens does not mark that window
done; a site created mid-day shows no missed windows from before it existed;
one start button per template, on the window a round finished now would count for.

The phone's clock is set with Playwright's clock (its windows are those the
server sent for today and tomorrow), and it stays offline once it has pulled, so
every status the test reads was judged on the phone.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from conftest import LiveServer
from fieldapp_support import (
    TIMEZONE, go, login_form, persistent_context, server_query, wait_offline_ready, wait_synced,
)
from server.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

SITE_ZONE = ZoneInfo(TIMEZONE)


@pytest.fixture(scope="module")
def field_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-field-windows-"))).start()
    yield server
    server.stop()


def templates_of(server: LiveServer, codes: list[str]) -> dict[str, dict[str, Any]]:
    return server_query(server, f"""
        from server.rounds.tables import RoundTemplate, TemplateItem
        from server.sites.tables import Site
        site = await Site.objects().where(Site.name == '阳光花园').first()
        result = {{}}
        for t in await RoundTemplate.objects().where((RoundTemplate.site == site.id)
                                                     & RoundTemplate.code.is_in({codes!r})):
            result[t.code] = {{'id': str(t.id), 'proof': t.proof,
                               'items': await TemplateItem.count().where(TemplateItem.template == t.id)}}
    """)


def tomorrow_at(hour: int, minute: int = 0, days: int = 1) -> datetime:
    """A wall-clock time tomorrow at the demo site: tomorrow's windows are all in the pull, all pending."""
    day = datetime.now(SITE_ZONE).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SITE_ZONE)


def today_at(hour: int, minute: int = 0) -> datetime:
    return tomorrow_at(hour, minute, days=0)


def set_clock(page: Any, at: datetime) -> None:
    page.clock.set_fixed_time(at)


def redraw_home(page: Any) -> None:
    go(page, "#/settings")
    go(page, "#/")
    page.wait_for_selector("ul.due")


def row(page: Any, template_id: str) -> Any:
    return page.locator(f"ul.due li[data-due='{template_id}']")


def tick_round(page: Any, template_id: str, items: int) -> None:
    """Start the template's round from the home screen, tick every checkpoint, finish it."""
    row(page, template_id).locator("[data-start]").first.click()
    page.wait_for_function("() => /^#\\/round\\/[\\w-]+$/.test(location.hash)")
    page.wait_for_selector("[data-tick]")
    for n in range(items):
        page.locator("[data-tick]").first.click()
        page.wait_for_function(f"() => document.querySelectorAll(\"[data-visited='1']\").length === {n + 1}")
    page.click("[data-action=to-finish]")
    page.wait_for_selector("[data-skipped='0']")
    page.click("[data-action=finish]")
    page.wait_for_function("() => location.hash === '#/'")
    page.wait_for_selector("ul.due")


def test_a_round_started_just_before_the_next_window_opens_leaves_that_window_pending(
        playwright_instance, field_server, tmp_path):
    """Issue 14, bug 2: started 10 minutes before 13:00, finished before it: only 07:00-13:00 is done."""
    garbage = templates_of(field_server, ["clean.garbage"])["clean.garbage"]  # twice a day: 07-13, 13-19
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, "cleaner1")
        wait_offline_ready(page)
        wait_synced(page)
        context.set_offline(True)
        set_clock(page, tomorrow_at(12, 50))
        redraw_home(page)
        assert "07:00 – 13:00" in row(page, garbage["id"]).first.inner_text()
        tick_round(page, garbage["id"], garbage["items"])
        set_clock(page, tomorrow_at(13, 5))
        redraw_home(page)
        shown = row(page, garbage["id"]).filter(has_text="13:00 – 19:00")
        assert shown.count() == 1, row(page, garbage["id"]).all_inner_texts()
        assert "已完成" not in shown.inner_text()
        assert shown.locator("[data-start]").count() == 1
        # The window it finished in is done, on the phone's own judgement (nothing was sent).
        windows = page.evaluate("""async () => {
            const data = await import('/static/app/data.js');
            return (await data.homeWindows()).map((w) => [w.template_id, w.start, w.shown]); }""")
        mine = {datetime.fromisoformat(start): status for tid, start, status in windows if tid == garbage["id"]}
        assert mine[tomorrow_at(7)] == "done"
        assert mine[tomorrow_at(13)] == "pending"
        # Once the server has the round and a pull followed, its due[] speaks for it: the server settled it
        # at its own (corrected, real) time, so tomorrow's 07:00-13:00 is pending there, and so on the phone.
        context.set_offline(False)
        page.click("[data-action=sync-now]")
        wait_synced(page)
        after = page.evaluate("""async () => {
            const data = await import('/static/app/data.js');
            const rounds = await data.records('round');
            return { judged: rounds.map((r) => r.server_judged === true),
                     windows: (await data.homeWindows()).map((w) => [w.template_id, w.start, w.shown]) }; }""")
        assert after["judged"] == [True]
        mine = {datetime.fromisoformat(start): status for tid, start, status in after["windows"] if tid == garbage["id"]}
        assert mine[tomorrow_at(7)] == "pending"
    finally:
        context.close()


def _zone_at_midday() -> str:
    """A fixed-offset zone where it is now about 13:00, so a site made now was made mid-day."""
    offset = (13 - datetime.now(timezone.utc).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def test_first_login_on_a_site_created_mid_day_shows_no_missed_windows(playwright_instance, field_server, tmp_path):
    """Issue 14, bug 3: windows that ended before the site existed are no slots, so nothing says they were missed."""
    zone = _zone_at_midday()
    made = server_query(field_server, f"""
        import uuid
        from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
        from server.staff.services import create_staff
        tag = uuid.uuid4().hex[:8]
        site = await create_site('新小区-' + tag, level=2, timezone='{zone}')
        zone = await add_zone(site.id, '1号楼')
        for kind in ('core', 'car_park', 'gate'):
            await add_checkpoint(site.id, kind + '-' + tag, kind, zone_id=zone.id)
        templates = await generate_templates(site.id)
        await create_staff('guard-' + tag, '新保安', 'guard', {DEMO_PASSWORD!r}, [site.id])
        core = next(t for t in templates if t.code == 'patrol.core')
        result = {{'username': 'guard-' + tag, 'core': str(core.id), 'created_at': site.created_at.isoformat()}}
    """)
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, made["username"])
        wait_synced(page)
        page.wait_for_selector("ul.due")
        home = page.inner_text("#view")
        assert "错过" not in home, home
        assert page.locator("[data-status=missed]").count() == 0
        # The window the site was created in is a slot: its patrol is due now.
        core = row(page, made["core"])
        assert core.count() == 1 and core.get_attribute("data-status") == "pending"
        assert re.search(r"12:00 – 14:00", core.inner_text()), core.inner_text()
        # The phone holds only windows the server sent, none of them ending before the site existed.
        due = page.evaluate("""async () => (await import('/static/app/store.js')).serverList('due')""")
        created = datetime.fromisoformat(made["created_at"])
        assert due and all(datetime.fromisoformat(d["window_end"]) > created for d in due), [
            (d["window_start"], d["status"]) for d in due if datetime.fromisoformat(d["window_end"]) <= created]
    finally:
        context.close()


def test_home_shows_one_start_button_per_template_on_its_window(playwright_instance, field_server, tmp_path):
    """One row and one start button per template, on the window a round finished now would count for."""
    codes = ["clean.sweep", "clean.garbage", "clean.bins", "drain.wells", "drain.pipes"]
    tpl = templates_of(field_server, codes)
    context = persistent_context(playwright_instance, tmp_path / "profile")
    try:
        page = context.pages[0]
        login_form(page, field_server.url, "cleaner1")
        wait_synced(page)
        context.set_offline(True)
        set_clock(page, tomorrow_at(9, 0))
        redraw_home(page)
        starts = page.locator("ul.due [data-start]")
        ids = [starts.nth(i).get_attribute("data-start") for i in range(starts.count())]
        assert len(ids) == len(set(ids)), ids  # one button per template, never one per window
        assert {tpl[c]["id"] for c in codes} <= set(ids)
        assert "07:00 – 11:00" in row(page, tpl["clean.sweep"]["id"]).inner_text()  # open now
        assert "07:00 – 13:00" in row(page, tpl["clean.garbage"]["id"]).inner_text()
        assert "07:00 – 19:00" in row(page, tpl["clean.bins"]["id"]).inner_text()
        # Monthly and yearly windows read as people say them.
        wells = row(page, tpl["drain.wells"]["id"]).inner_text()
        assert "本月" in wells and "00:00" not in wells, wells
        assert str(tomorrow_at(9).year) in row(page, tpl["drain.pipes"]["id"]).inner_text()
        # In the evening today's windows are over: each button points at tomorrow's window.
        set_clock(page, today_at(20, 0))
        redraw_home(page)
        sweep = row(page, tpl["clean.sweep"]["id"]).inner_text()
        assert "07:00 – 11:00" in sweep and "明天" in sweep, sweep
        garbage = row(page, tpl["clean.garbage"]["id"])
        assert "07:00 – 13:00" in garbage.inner_text() and garbage.locator("[data-start]").count() == 1
        assert page.locator("ul.due [data-start]").count() == len(ids)
    finally:
        context.close()
