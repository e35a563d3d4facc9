// Rectification work on the phone: my assigned rectifications with deadlines
// and before photos; start, fix with an after photo, comment.
import { h, mount, chip, photoPicker, thumb, toast } from "../dom.js";
import { t, pick, category, formatTime } from "../i18n.js";
import { serverList } from "../store.js";
import { localRectState, records, recordState, rectification, rectStep, syncSnapshot } from "../data.js";
import { stateText } from "./home.js";

const OPEN_STATES = ["open", "assigned", "in_progress", "reopened"];

function deadline(r, now = Date.now()) {
  if (!r.due_at) return null;
  const overdue = Date.parse(r.due_at) < now && OPEN_STATES.includes(r.state);
  return h("p.small", { class: overdue ? "error" : "muted", "data-overdue": overdue ? "1" : "0" },
    overdue ? t("field.rect.overdue", { time: formatTime(r.due_at, true) }) : t("field.rect.due", { time: formatTime(r.due_at, true) }));
}

export async function renderList(view, _args, ctx) {
  ctx.setTitle(t("field.rects.title"));
  const [rects, steps, snap] = await Promise.all([serverList("rectifications"), records("rect_step", ctx.user.id), syncSnapshot()]);
  const mine = rects.filter((r) => r.assignee_id === ctx.user.id && r.state !== "verified")
    .sort((a, b) => String(a.due_at || "9").localeCompare(String(b.due_at || "9")));
  mount(view,
    mine.length ? h("ul.list", {}, mine.map((r) => {
      const cat = category(r.category);
      return h("li", {}, h("a.row", { href: `#/rect/${r.id}`, "data-rect": r.id },
        h("span.icon.big", {}, cat.icon),
        h("div.grow", {}, h("strong", {}, pick(cat)), r.severity === "emergency" ? chip(t("field.severity.emergency"), "bad") : null, deadline(r)),
        chip(t(`field.rect.state.${localRectState(r, steps, snap)}`))));
    })) : h("p.muted", {}, t("field.home.no_rects")));
}

export async function renderDetail(view, { params: [id] }, ctx) {
  const r = await rectification(id);
  if (!r) { ctx.go("#/rects"); return; }
  const cat = category(r.category);
  ctx.setTitle(pick(cat), true);
  const [steps, snap] = await Promise.all([records("rect_step", ctx.user.id), syncSnapshot()]);
  const mySteps = steps.filter((s) => s.rect_id === r.id);
  const state = localRectState(r, steps, snap);
  const before = await Promise.all((r.photos_before || []).map((sha) => thumb(sha, "photo-large")));
  const after = await Promise.all((r.photos_after || []).map((sha) => thumb(sha, "photo-large")));

  const note = h("textarea", { name: "note", rows: 2, maxlength: 2000, placeholder: t("field.rect.note_placeholder") });
  const photos = photoPicker({ name: "after", label: t("field.rect.after_photo") });
  const act = async (action, button) => {
    if (photos.busy()) { toast(t("field.photo.wait")); return; }
    const shas = photos.value();
    if (action === "fix" && !shas.length) { toast(t("field.rect.fix_needs_photo"), "bad"); return; }
    if (action === "comment" && !note.value.trim()) { toast(t("field.rect.comment_needs_text"), "bad"); return; }
    button.disabled = true;
    await rectStep(ctx.user, r, action, { note: note.value.trim(), photos: action === "comment" ? [] : shas });
    ctx.queued();
    toast(t("field.rect.saved"));
    ctx.refresh();
  };
  const canStart = ["open", "assigned", "reopened"].includes(state);
  const canFix = OPEN_STATES.includes(state);
  const buttons = [
    canStart ? h("button.big", { type: "button", "data-action": "rect-start", onclick: (e) => act("start", e.currentTarget) }, t("field.rect.action.start")) : null,
    canFix ? h("button.primary.big", { type: "button", "data-action": "rect-fix", onclick: (e) => act("fix", e.currentTarget) }, t("field.rect.action.fix")) : null,
    h("button.big", { type: "button", "data-action": "rect-comment", onclick: (e) => act("comment", e.currentTarget) }, t("field.rect.action.comment")),
  ];
  mount(view,
    h("p", {}, h("span.icon.big", {}, cat.icon), " ", r.severity === "emergency" ? chip(t("field.severity.emergency"), "bad") : chip(t("field.severity.normal")),
      " ", h("span", { "data-rect-state": state }, chip(t(`field.rect.state.${state}`), state === "fixed" ? "ok" : ""))),
    deadline(r),
    r.note ? h("p.note", {}, r.note) : null,
    before.length ? h("section", {}, h("h2", {}, t("field.rect.before")), h("div.photos", {}, before)) : null,
    after.length ? h("section", {}, h("h2", {}, t("field.rect.after")), h("div.photos", {}, after)) : null,
    canFix ? h("section", {}, h("h2", {}, t("field.rect.after_photo")), photos.el) : null,
    h("label", {}, t("field.rect.note"), note),
    h("div.actions", {}, buttons),
    mySteps.length ? h("section", {}, h("h2", {}, t("field.rect.my_steps")), h("ul.list", {}, mySteps.map((s) =>
      h("li.row", { "data-step": s.action }, h("div.grow", {}, h("strong", {}, t(`field.rect.action.${s.action}`)),
        h("div.muted.small", {}, formatTime(s.created_at, true), s.note ? ` · ${s.note}` : "")),
      chip(stateText(recordState(snap, s.op_ids, s.photos || []))))))) : null);
}
