// Doing a round: the items in their suggested order (not forced), scanning any
// checkpoint opens its item, cleaners tick "any"-proof items in one tap, and
// skipped items are listed before finishing.
import { h, mount, chip, toast } from "../dom.js";
import { t, pick, formatTime } from "../i18n.js";
import { checkpointMap, finishRound, record, recordVisit, template, zoneMap } from "../data.js";
import { proofPanel } from "./proof.js";

export async function loadRound(id) {
  const round = await record(id);
  if (!round) return null;
  const tpl = await template(round.template_id);
  const [cps, zones] = await Promise.all([checkpointMap(), zoneMap()]);
  const items = (tpl ? tpl.items : []).map((item, i) => ({ ...item, n: i + 1, checkpoint: cps.get(item.checkpoint_id) })).filter((i) => i.checkpoint);
  return { round, tpl, items, zones };
}

async function visitStatus(round) {
  const out = new Map();
  for (const [cpId, visitId] of Object.entries(round.visits || {})) {
    const v = await record(visitId);
    if (v) out.set(cpId, v);
  }
  return out;
}

export async function render(view, { params: [id] }, ctx) {
  const loaded = await loadRound(id);
  if (!loaded) { ctx.go("#/"); return; }
  const { round, tpl, items, zones } = loaded;
  ctx.setTitle(pick(tpl, "name"), true);
  const visits = await visitStatus(round);
  const doneCount = items.filter((i) => visits.has(i.checkpoint_id)).length;
  const tickable = tpl.proof === "any";

  const tick = async (item) => {
    // "any" proof: one tap records the visit with every check answered OK.
    await recordVisit(ctx.user, round, {
      checkpoint_id: item.checkpoint_id, proof: "none",
      answers: (item.checks || []).map((c) => ({ check_id: c.id, ok: true })), photos: [],
    });
    ctx.queued();
    ctx.refresh();
  };

  const rows = items.map((item) => {
    const v = visits.get(item.checkpoint_id);
    const zone = zones.get(item.checkpoint.zone_id);
    const status = v ? (v.problem ? chip(t("field.round.problem"), "bad") : chip(t("field.round.visited"), "ok")) : chip(t("field.round.not_yet"));
    return h("li.row", { "data-item": item.checkpoint_id, "data-visited": v ? "1" : "0" },
      h("a.grow.item-link", { href: `#/round/${round.id}/cp/${item.checkpoint_id}` },
        h("span.num", {}, String(item.n)), h("span", {}, h("strong", {}, item.checkpoint.name), zone ? h("div.muted.small", {}, zone.name) : null)),
      status,
      !round.finished_at && tickable && !v ? h("button.primary.tick", { type: "button", "data-tick": item.checkpoint_id, "aria-label": t("field.round.tick"), onclick: () => tick(item) }, "✓") : null);
  });

  let panel = null;
  if (!round.finished_at) {
    panel = proofPanel(items.map((i) => i.checkpoint), ({ checkpoint, proof, secret }) => {
      ctx.pendingProof = { checkpoint_id: checkpoint.id, proof, secret, round_id: round.id };
      ctx.go(`#/round/${round.id}/cp/${checkpoint.id}`);
    });
  }
  mount(view,
    h("p.muted", {}, t("field.round.started", { time: formatTime(round.started_at, true) }), " · ",
      h("strong", { "data-progress": `${doneCount}/${items.length}` }, t("field.round.progress", { done: doneCount, total: items.length }))),
    round.finished_at ? h("p.notice", {}, t("field.round.finished_at", { time: formatTime(round.finished_at, true) })) : null,
    panel ? h("section.card", {}, h("h2", {}, t("field.round.scan_any")), tickable ? h("p.muted.small", {}, t("field.round.tick_hint")) : null, panel.el) : null,
    h("h2", {}, t("field.round.items")),
    h("p.muted.small", {}, t("field.round.order_hint")),
    h("ol.list.items", {}, rows),
    round.finished_at ? null : h("a.button.big.primary", { href: `#/round/${round.id}/finish`, "data-action": "to-finish" }, t("field.round.finish")));
  return () => panel && panel.stop();
}

export async function renderFinish(view, { params: [id] }, ctx) {
  const loaded = await loadRound(id);
  if (!loaded) { ctx.go("#/"); return; }
  const { round, tpl, items } = loaded;
  ctx.setTitle(t("field.round.finish"), true);
  const visits = await visitStatus(round);
  const skipped = items.filter((i) => !visits.has(i.checkpoint_id));
  const problems = items.filter((i) => visits.get(i.checkpoint_id)?.problem);
  mount(view,
    h("h2", {}, pick(tpl, "name")),
    h("p", {}, t("field.round.progress", { done: items.length - skipped.length, total: items.length })),
    problems.length ? h("p.notice.warn", {}, t("field.round.problems", { n: problems.length })) : null,
    skipped.length ? h("section.card.warn", { "data-skipped": skipped.length },
      h("h3", {}, t("field.round.skipped", { n: skipped.length })),
      h("ul", {}, skipped.map((i) => h("li", { "data-skipped-item": i.checkpoint_id }, h("a", { href: `#/round/${round.id}/cp/${i.checkpoint_id}` }, i.checkpoint.name)))))
      : h("p.ok", { "data-skipped": 0 }, t("field.round.none_skipped")),
    round.finished_at ? h("p.notice", {}, t("field.round.finished_at", { time: formatTime(round.finished_at, true) })) :
      h("button.primary.big", {
        type: "button", "data-action": "finish",
        onclick: async (e) => {
          e.target.disabled = true;
          await finishRound(ctx.user, round);
          ctx.queued();
          toast(t("field.round.saved"));
          ctx.go("#/");
        },
      }, t("field.round.finish_confirm")),
    h("a.button.big", { href: `#/round/${round.id}` }, t("field.round.back_to_items")));
}
