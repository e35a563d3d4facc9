"""The phone's copy of the patrol window rule (web/static/app/schedule.js), in real Chromium,
against the same table of cases pytest runs against server/rounds/schedule.py.

The cases are read from tests/cases/patrol_windows.json (stored once) and handed
to the page; judge() below is tests/test_patrol_rule.py's judge() written in the
page's language, so a case that passes there and fails here is a disagreement
between the two copies of the rule.
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from conftest import ROOT
from test_patrol_rule import TABLE, _expected

pytestmark = pytest.mark.browser

STATIC_DIR = ROOT / "web" / "static"

# tests/test_patrol_rule.py's judge(), step for step, over the module the app itself imports.
JUDGE = """async ([table, c]) => {
  const rule = await import('/static/app/schedule.js');
  const grace = (c.grace_minutes ?? table.grace_minutes) * 60 * 1000;
  const windows = c.windows.map((w) => (rule.exists(w.end, c.since ?? null)
    ? { start: w.start, end: w.end, status: w.status ?? 'pending', round: w.round ?? null,
        visited: w.visited ?? null, required: w.required ?? null }
    : null));
  const slots = windows.filter((w) => w !== null);
  const rounds = c.rounds.map((r) => ({ id: r.id, finished_at: r.finished_at, visited: r.visited, required: r.required }));
  rule.settle(slots, rounds, grace);
  const seen = windows.map((w) => (w === null ? { slot: false }
    : { status: rule.statusAt(w.status, w.end, c.now, grace), round: w.round, visited: w.visited, required: w.required }));
  const chosen = rule.current(slots, c.now, grace);
  return { seen, current: chosen ? chosen.start : null };
}"""


@pytest.fixture(scope="module")
def static_base() -> Iterator[str]:
    """The app's static files as the server serves them (/static/...), from a plain file server."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def translate_path(self, path: str) -> str:
            return super().translate_path(path.removeprefix("/static"))

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(STATIC_DIR)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def rule_page(browser: Any, static_base: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{static_base}/static/app/")  # any page of the origin: the module is imported from it
    yield page
    context.close()


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_phone_rule_case(rule_page: Any, case: dict) -> None:
    judged = rule_page.evaluate(JUDGE, [TABLE, case])
    seen = judged["seen"]
    assert [_expected(s, e) for s, e in zip(seen, case["expect"])] == case["expect"]
    assert len(seen) == len(case["expect"])
    assert _instant(judged["current"]) == _instant(case["current"])


def test_the_phone_rule_names_the_same_statuses() -> None:
    """The JavaScript lists the statuses and open statuses the Python does."""
    from server.rounds import schedule

    text = (STATIC_DIR / "app" / "schedule.js").read_text(encoding="utf-8")
    assert f"STATUSES = {list(schedule.STATUSES)}".replace("'", '"') in text
    assert f"OPEN = {list(schedule.OPEN)}".replace("'", '"') in text


# data.js over the rule: the server's status first, the phone's own unanswered rounds settled onto it.
PHONE_VIEW = """async () => {
  const data = await import('/static/app/data.js');
  const tpl = { id: 't1', items: [{ checkpoint_id: 'a' }, { checkpoint_id: 'b' }, { checkpoint_id: 'c' }] };
  const due = (start, end, status, extra = {}) => ({ template_id: 't1', window_start: start, window_end: end, status, ...extra });
  const dues = [
    due('2026-12-01T08:00:00+08:00', '2026-12-01T10:00:00+08:00', 'incomplete', { visited: 4, required: 9 }),
    due('2026-12-01T10:00:00+08:00', '2026-12-01T12:00:00+08:00', 'pending'),
    due('2026-12-01T12:00:00+08:00', '2026-12-01T14:00:00+08:00', 'pending'),
  ];
  const rounds = [
    // answered by a pull already: the server's due[] speaks for it
    { id: 'old', template_id: 't1', finished_at: '2026-12-01T10:30:00+08:00', server_judged: true, visits: { a: 1, b: 1, c: 1 } },
    // finished offline, in UTC: 11:00 at the site; a visit outside the template does not count
    { id: 'new', template_id: 't1', finished_at: '2026-12-01T03:00:00Z', visits: { a: 1, c: 1, z: 1 } },
    { id: 'open', template_id: 't1', finished_at: null, visits: {} },
  ];
  const finished = data.unjudgedRounds(rounds).map((r) => data.asFinished(r, tpl));
  const judged = data.judgeWindows(dues, finished, Date.parse('2026-12-01T13:00:00+08:00'), 15 * 60 * 1000);
  const none = data.judgeWindows([], finished, Date.parse('2026-12-01T13:00:00+08:00'), 15 * 60 * 1000);
  return { finished, judged: judged.map((w) => [w.shown, w.round, w.visited, w.required, w.current]), none };
}"""


def test_the_phone_keeps_the_servers_status_and_judges_only_its_unanswered_rounds(rule_page: Any) -> None:
    seen = rule_page.evaluate(PHONE_VIEW)
    assert [(r["id"], r["visited"], r["required"]) for r in seen["finished"]] == [("new", 2, 3)]
    assert seen["judged"] == [
        ["incomplete", None, 4, 9, False],   # as the server judged it
        ["incomplete", "new", 2, 3, False],  # the offline round, 2 of the template's 3 checkpoints
        ["pending", None, None, None, True],  # open now: the start button's window
    ]
    assert seen["none"] == []  # no window the server did not send, whatever the phone recorded
