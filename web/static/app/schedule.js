// Patrol windows and their status: the phone's copy of server/rounds/schedule.py.
// The rule is written there (its docstring, shared/SYNC.md v1.1 `due[]`); this
// file only repeats its functions, name for name, for what the phone recorded
// offline. Both are pinned by one table of cases, tests/cases/patrol_windows.json:
// pytest runs it against the Python (tests/test_patrol_rule.py), Chromium against
// this file (tests/test_fieldapp_schedule_rule.py). Change the rule there first.
//
// A window is {start, end, status, round, visited, required}; a finished round is
// {id, finished_at, visited, required}. Times are ISO strings with an offset (or
// epoch milliseconds) and are always compared as instants; grace is milliseconds.

export const STATUSES = ["pending", "done", "late", "incomplete", "missed"];
export const OPEN = ["pending", "missed"]; // a window a finished round may still settle
export const DEFAULT_GRACE_MINUTES = 15;

/** Epoch milliseconds of an ISO time with an offset (or of milliseconds already). */
export const instant = (value) => (typeof value === "number" ? value : Date.parse(value));

/** Whether a window is a slot at all: it ends after the site and template existed. */
export function exists(windowEnd, since) {
  return since == null || instant(windowEnd) > instant(since);
}

const complete = (rnd) => rnd.visited >= rnd.required;

/** The status a finished round gives the window it settles. */
export function settledStatus(windowEnd, finishedAt, visited, required) {
  if (visited < required) return "incomplete";
  return instant(finishedAt) <= instant(windowEnd) ? "done" : "late";
}

/** Whether a round finished at `finishedAt` may settle this window (by its finish time only). */
export function countsFor(window, finishedAt, grace) {
  const at = instant(finishedAt);
  return instant(window.start) <= at && at <= instant(window.end) + grace;
}

/** The window this round settles: the earliest open one it counts for, else (a complete round) the earliest incomplete. */
export function choose(windows, rnd, grace) {
  const ordered = windows.filter((w) => countsFor(w, rnd.finished_at, grace))
    .sort((a, b) => instant(a.start) - instant(b.start));
  const open = ordered.find((w) => OPEN.includes(w.status));
  if (open) return open;
  return complete(rnd) ? ordered.find((w) => w.status === "incomplete") || null : null;
}

/** Settle the windows of one template with these rounds, in the order given; returns [round, window] pairs. */
export function settle(windows, rounds, grace) {
  const settled = [];
  for (const rnd of rounds) {
    const window = choose(windows, rnd, grace);
    if (!window) continue;
    window.status = settledStatus(window.end, rnd.finished_at, rnd.visited, rnd.required);
    Object.assign(window, { round: rnd.id, visited: rnd.visited, required: rnd.required });
    settled.push([rnd, window]);
  }
  return settled;
}

/** A window's status as of `at`: a settled one keeps its status; an unsettled one is missed once end + grace has passed. */
export function statusAt(status, windowEnd, at, grace) {
  if (OPEN.includes(status)) return instant(at) > instant(windowEnd) + grace ? "missed" : "pending";
  return status;
}

/** The window a full round finished now would count for, else the next one to open (for the start button). */
export function current(windows, at, grace) {
  const chosen = choose(windows, { id: null, finished_at: at, visited: 0, required: 0 }, grace);
  if (chosen) return chosen;
  const upcoming = windows.filter((w) => instant(w.start) > instant(at)).sort((a, b) => instant(a.start) - instant(b.start));
  return upcoming[0] || null;
}
