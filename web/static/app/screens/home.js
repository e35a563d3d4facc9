// Home per role: one row per round template on the window its start button
// belongs to, my open rounds, my rectifications, what waits to be sent, and when
// the last sync succeeded.
import { h, mount, chip } from "../dom.js";
import { t, pick, category, formatTime, formatWith, siteDay } from "../i18n.js";
import { serverList } from "../store.js";
import * as sync from "../sync.js";
import {
  homeWindows, localRectState, records, recordState, roundParts, startRound, syncSnapshot, templatesForMe,
} from "../data.js";

const STATUS_KIND = { done: "ok", pending: "", due_now: "warn", late: "warn", incomplete: "warn", missed: "bad" };
const DAY = 24 * 3600 * 1000;

/** The status a person reads on a window's chip (a pending window that has opened is "due now"). */
function statusWord(w, now) {
  const shown = w.shown === "pending" && Date.parse(w.start) <= now ? "due_now" : w.shown;
  const text = shown === "incomplete" && w.required != null
    ? t("field.due.incomplete_of", { visited: w.visited ?? 0, required: w.required })
    : t(`field.due.${shown}`);
  return { shown, text };
}

function timeRange(w) {
  const start = formatTime(w.start);
  // A window ending at the site's midnight ends at 24:00 of its day, as people say it.
  const end = formatTime(w.end) === "00:00" && siteDay(w.end) !== siteDay(w.start) ? "24:00" : formatTime(w.end);
  return `${start} – ${end}`;
}

/** A window as people say it: "07:00 – 11:00", "明天 07:00 – 11:00", "本周", "本月", "2026 年". */
export function windowText(w, frequency, now) {
  const period = (frequency || {}).period;
  const every = Number((frequency || {}).every || 1);
  const start = Date.parse(w.start);
  const end = Date.parse(w.end);
  const holdsNow = start <= now && now < end;
  const lastDay = end - 1;  // long windows end at midnight: their last day is the day before
  const dates = () => `${formatWith(start, { month: "numeric", day: "numeric" })} – ${formatWith(lastDay, { month: "numeric", day: "numeric" })}`;
  if (period === "year" && every === 1) return t("field.window.year", { year: siteDay(start).slice(0, 4) });
  if (period === "quarter" && every === 1) {
    if (holdsNow) return t("field.window.this_quarter");
    return t("field.window.quarter", { year: siteDay(start).slice(0, 4), n: Math.floor((Number(siteDay(start).slice(5, 7)) - 1) / 3) + 1 });
  }
  if (period === "month" && every === 1) return holdsNow ? t("field.window.this_month") : formatWith(start, { year: "numeric", month: "long" });
  if (period === "week" && every === 1 && holdsNow) return t("field.window.this_week");
  if (["week", "month", "quarter", "year"].includes(period) || end - start > DAY) return dates();
  const day = siteDay(start);
  if (day === siteDay(now)) return timeRange(w);
  if (day === siteDay(now + DAY)) return t("field.window.tomorrow", { range: timeRange(w) });
  return `${formatWith(start, { month: "numeric", day: "numeric" })} ${timeRange(w)}`;
}

export function stateText(st) {
  if (st.attention) return t("field.state.attention");
  if (st.waiting && st.total) return t("field.state.waiting_photos", { received: st.received, total: st.total });
  if (st.waiting) return t("field.state.waiting");
  if (st.received < st.total) return t("field.state.photos", { received: st.received, total: st.total });
  return t("field.state.received");
}

function stateChip(st) {
  return chip(stateText(st), st.attention ? "bad" : st.done ? "ok" : "warn");
}

async function begin(ctx, tpl, button) {
  // A round of this template already open (a double tap, or started earlier) is continued, not doubled.
  if (button) button.disabled = true;
  const open = (await records("round", ctx.user.id)).find((r) => r.template_id === tpl.id && !r.finished_at);
  const round = open || (await startRound(ctx.user, tpl));
  if (!open) ctx.queued();
  ctx.go(`#/round/${round.id}`);
}

function syncCard(snap, ctx) {
  const st = sync.state;
  const waiting = snap.outboxSize + snap.photosWaiting;
  return h("section.card.sync-card", { "data-outbox": snap.outboxSize },
    h("p.big-number", { "data-waiting": waiting }, waiting ? t("field.home.waiting", { n: snap.outboxSize, photos: snap.photosWaiting }) : t("field.home.all_sent")),
    h("p.muted", { "data-last-sync": st.lastSuccess || "" }, st.lastSuccess ? t("field.home.last_sync", { time: formatTime(st.lastSuccess, true) }) : t("field.home.never_synced")),
    navigator.onLine ? null : h("p.notice", {}, t("field.home.offline")),
    snap.attentionCount ? h("a.button.danger", { href: "#/attention" }, t("field.home.attention", { n: snap.attentionCount })) : null,
    h("button.big", { type: "button", "data-action": "sync-now", disabled: !navigator.onLine || st.running, onclick: () => ctx.syncNow() }, st.running ? t("field.status.syncing") : t("field.sync.now")));
}

export async function render(view, _args, ctx) {
  const user = ctx.user;
  ctx.setTitle(t("app.name"));
  const now = Date.now();
  const [snap, templates, windows, rounds, rects, steps, findings] = await Promise.all([
    syncSnapshot(), templatesForMe(user), homeWindows(user, now), records("round", user.id), serverList("rectifications"),
    records("rect_step", user.id), records("finding", user.id),
  ]);
  const byTemplate = new Map(templates.map((x) => [x.id, x]));
  const open = rounds.filter((r) => !r.finished_at);

  // One row per template with windows, on the window a round finished now would count for (else the next to
  // open); the window that closes first comes first, so the 2-hourly patrol sits above the yearly dredging.
  const closes = (x) => (x.w ? Date.parse(x.w.end) : Infinity);
  const rows = [...new Set(windows.map((w) => w.template_id))].map((id) => ({
    tpl: byTemplate.get(id), w: windows.find((x) => x.template_id === id && x.current) || null,
  })).sort((a, b) => closes(a) - closes(b) || pick(a.tpl, "name").localeCompare(pick(b.tpl, "name")));
  const today = siteDay(now);
  const missedToday = windows.filter((w) => w.shown === "missed" && siteDay(w.start) === today).length;

  const dueList = h("ul.list.due", {}, rows.map(({ tpl, w }) => {
    const word = w ? statusWord(w, now) : null;
    const continuing = open.some((r) => r.template_id === tpl.id);
    return h("li.row", { "data-due": tpl.id, "data-status": w ? w.shown : "", "data-window-start": w ? w.start : "" },
      // The status sits under the name with the window, so long names keep the row's width.
      h("div.grow", {}, h("strong", {}, pick(tpl, "name")),
        h("div.window-line", {},
          h("span.muted.small", { "data-window": "" }, w ? windowText(w, tpl.frequency, now) : t("field.window.none")),
          word ? chip(word.text, STATUS_KIND[word.shown]) : null)),
      h("button.primary", { type: "button", "data-start": tpl.id, onclick: (e) => begin(ctx, tpl, e.currentTarget) },
        t(continuing ? "field.round.continue" : "field.round.start")));
  }));

  const mine = rects.filter((r) => r.assignee_id === user.id && !["verified"].includes(r.state))
    .sort((a, b) => String(a.due_at || "9").localeCompare(String(b.due_at || "9")));
  const rectList = h("ul.list", {}, mine.slice(0, 5).map((r) => {
    const cat = category(r.category);
    const overdue = r.due_at && Date.parse(r.due_at) < now && !["fixed", "verified"].includes(r.state);
    return h("li", {}, h("a.row", { href: `#/rect/${r.id}`, "data-rect": r.id },
      h("span.icon.big", {}, cat.icon), h("div.grow", {}, h("strong", {}, pick(cat)),
        h("div.small", { class: overdue ? "error" : "muted" }, r.due_at ? t("field.rect.due", { time: formatTime(r.due_at, true) }) : "")),
      chip(t(`field.rect.state.${localRectState(r, steps, snap)}`))));
  }));

  const recent = [];
  for (const r of rounds.slice(0, 5)) {
    const parts = await roundParts(r);
    const tpl = byTemplate.get(r.template_id);
    recent.push({ at: r.created_at, el: h("li.row", { "data-record": r.id, "data-kind": "round" },
      h("div.grow", {}, h("strong", {}, pick(tpl, "name") || t("field.round.title")),
        h("div.muted.small", {}, t("field.home.round_line", { time: formatTime(r.started_at, true), n: parts.visits.length }))),
      stateChip(recordState(snap, parts.opIds, parts.photos))) });
  }
  for (const f of findings.slice(0, 5)) {
    const cat = category(f.category);
    recent.push({ at: f.created_at, el: h("li.row", { "data-record": f.id, "data-kind": "finding" },
      h("span.icon", {}, cat.icon), h("div.grow", {}, h("strong", {}, pick(cat)), h("div.muted.small", {}, formatTime(f.created_at, true))),
      stateChip(recordState(snap, f.op_ids, f.photos || []))) });
  }
  for (const s of steps.slice(0, 5)) {
    recent.push({ at: s.created_at, el: h("li.row", { "data-record": s.id, "data-kind": "rect_step" },
      h("div.grow", {}, h("strong", {}, t(`field.rect.action.${s.action}`)), h("div.muted.small", {}, formatTime(s.created_at, true))),
      stateChip(recordState(snap, s.op_ids, s.photos || []))) });
  }
  recent.sort((a, b) => (a.at < b.at ? 1 : -1));

  mount(view,
    h("p.welcome", {}, t("field.home.welcome", { name: user.name }), " · ", t(`role.${user.role}`)),
    syncCard(snap, ctx),
    open.length ? h("section", {}, h("h2", {}, t("field.home.open_rounds")), h("ul.list", {}, open.map((r) =>
      h("li", {}, h("a.row.button", { href: `#/round/${r.id}`, "data-open-round": r.id },
        h("strong.grow", {}, pick(byTemplate.get(r.template_id), "name")), t("field.round.continue")))))) : null,
    templates.length ? h("section", {}, h("h2", {}, t("field.home.due")),
      rows.length ? dueList : h("p.muted", {}, t("field.home.no_due")),
      missedToday ? h("p.error.small", {}, t("field.home.missed_today", { n: missedToday })) : null,
      h("a.button.big", { href: "#/start" }, t("field.home.other_round"))) : null,
    h("section", {}, h("h2", {}, t("field.home.my_rects")), mine.length ? rectList : h("p.muted", {}, t("field.home.no_rects")),
      mine.length > 5 ? h("a", { href: "#/rects" }, t("field.home.all_rects", { n: mine.length })) : null),
    h("a.button.big.warn", { href: "#/finding", "data-action": "report" }, "⚠️ ", t("field.finding.report")),
    recent.length ? h("section", {}, h("h2", {}, t("field.home.recent")), h("ul.list.recent", {}, recent.slice(0, 8).map((x) => x.el))) : null);
}

/** Every round template of my role, to start one outside its window. */
export async function renderStart(view, _args, ctx) {
  ctx.setTitle(t("field.home.other_round"), true);
  const templates = await templatesForMe(ctx.user);
  mount(view, h("ul.list", {}, templates.map((tpl) => h("li", {},
    h("button.big.row", { type: "button", "data-start": tpl.id, onclick: (e) => begin(ctx, tpl, e.currentTarget) },
      h("div.grow", {}, h("strong", {}, pick(tpl, "name")), h("div.muted.small", {}, pick(tpl.frequency || {}, "text"),
        " · ", t(`field.proof.${tpl.proof === "any" ? "any" : "qr"}`))))))),
  templates.length ? null : h("p.muted", {}, t("field.home.no_templates")));
}
