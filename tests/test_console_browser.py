"""In a real Chromium: the supervisor works a finding that came from a phone, end to end.

guard1's phone pushes a finding with a photo (the sync API); supervisor1 opens
it in the console, sees the photo and assigns it to tech1; tech1's phone pushes
the fix with an "after" photo; the supervisor sees it, verifies, and the
month's report counts it closed in time.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from phone import Phone
from photo_samples import jpeg

pytestmark = pytest.mark.browser

TIMEOUT = 30_000


def deadline_row(page: Any, base: str, code: str) -> tuple[int, int]:
    """(in time, counted) of a deadline row of this month's report, as the page shows it."""
    page.goto(f"{base}/report")
    row = page.locator(f'tr[data-key="sla:{code}"]')
    if row.count() == 0:
        return 0, 0
    text = row.locator("td.num").nth(1).inner_text()
    met, counted = (int(x) for x in re.findall(r"\d+", text))
    return met, counted


def photo_shown(page: Any, sha: str) -> bool:
    img = page.locator(f'img[src="/photos/{sha}?size=thumb"]').first
    img.wait_for(state="visible", timeout=TIMEOUT)
    # The thumbnail loads lazily: visible comes first, then the request. Wait until the load
    # has ended (a broken image ends too), then ask whether it decoded to a picture.
    handle = img.element_handle()
    page.wait_for_function("(el) => el.complete", arg=handle, timeout=TIMEOUT)
    return page.evaluate("(el) => el.naturalWidth > 0", handle)


def test_supervisor_reviews_assigns_and_verifies_a_finding_from_the_phone(page, live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        guard = Phone(http, "guard1").login()
        site_id = guard.user["site_ids"][0]
        before_sha = guard.add_photo(jpeg(seed=4711))
        rect_id = guard.report(site_id, "water_snow", note="B1车库入口积水", photos=[before_sha])
        guard.sync()
        assert guard.results[next(iter(guard.results))]["status"] == "applied"

        page.set_default_timeout(TIMEOUT)
        page.goto(f"{live_server.url}/login")
        page.get_by_label("用户名").fill("supervisor1")
        page.get_by_label("密码").fill("xunjian-demo")
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{live_server.url}/console/sites/{site_id}/today")
        base = f"{live_server.url}/console/sites/{site_id}"
        met_before, counted_before = deadline_row(page, base, "sla.finding")

        # Today lists the finding for review; it opens with its photo.
        page.goto(f"{base}/today")
        page.locator(f'a[href="/console/sites/{site_id}/rectifications/{rect_id}"]').first.click()
        page.wait_for_url(f"**/rectifications/{rect_id}")
        assert "B1车库入口积水" in page.locator("#rect").inner_text()
        assert photo_shown(page, before_sha)

        # Assign to tech1 (htmx swaps the rectification in place).
        form = page.locator('form[data-action="assign"]')
        form.locator("select[name=assignee]").select_option(label="赵维修 (维修)")
        form.get_by_role("button", name="指派").click()
        page.locator('#rect[data-state="assigned"]').wait_for()
        assert "赵维修" in page.locator('[data-role="assignee"]').inner_text()

        # The technician's phone: it pulled the assignment, goes there, fixes it with an "after" photo.
        tech = Phone(http, "tech1").login()
        tech.pull()
        assert tech.store["rectifications"][rect_id]["state"] == "assigned"
        after_sha = tech.add_photo(jpeg(seed=4712))
        tech.transition(rect_id, "start")
        tech.transition(rect_id, "fix", note="已清扫积水", photos=[after_sha])
        tech.sync()
        assert [r["status"] for r in tech.results.values()] == ["applied", "applied"]

        # The fix appears on the supervisor's page, after photo beside the before one.
        page.reload()
        page.locator('#rect[data-state="fixed"]').wait_for()
        assert photo_shown(page, after_sha) and photo_shown(page, before_sha)
        assert "已清扫积水" in page.locator(".timeline").inner_text()

        page.locator('form[data-action="verify"]').get_by_role("button", name="验收通过").click()
        page.locator('#rect[data-state="verified"]').wait_for()
        steps = page.locator(".timeline li.step").evaluate_all("els => els.map(e => e.dataset.action)")
        assert steps == ["open", "assign", "start", "fix", "verify"]  # reported by the phone, then worked

        # The month's report counts it, closed within its deadline.
        met_after, counted_after = deadline_row(page, base, "sla.finding")
        assert (met_after, counted_after) == (met_before + 1, counted_before + 1)
        tech.pull()
        assert tech.store["rectifications"][rect_id]["state"] == "verified"
