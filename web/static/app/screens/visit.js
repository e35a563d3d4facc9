// One checkpoint of a round: proof, one big OK / problem tap per check, photos.
// A problem answer goes straight on to reporting a finding.
import { h, mount, photoPicker, toast } from "../dom.js";
import { t, pick } from "../i18n.js";
import { recordVisit } from "../data.js";
import { loadRound } from "./round.js";
import { proofPanel } from "./proof.js";

export async function render(view, { params: [roundId, cpId] }, ctx) {
  const loaded = await loadRound(roundId);
  if (!loaded) { ctx.go("#/"); return; }
  const { round, tpl, items, zones } = loaded;
  const item = items.find((i) => i.checkpoint_id === cpId);
  if (!item) { ctx.go(`#/round/${roundId}`); return; }
  const cp = item.checkpoint;
  ctx.setTitle(cp.name, true);
  const needsQr = tpl.proof !== "any";
  let proof = null;
  if (ctx.pendingProof && ctx.pendingProof.checkpoint_id === cpId && ctx.pendingProof.round_id === roundId) proof = ctx.pendingProof;
  ctx.pendingProof = null;

  const answers = new Map();
  const photos = photoPicker({ name: "visit" });
  const proofState = h("p.proof-state", { "data-proof": "" });
  const save = h("button.primary.big", { type: "button", "data-action": "save-visit" }, t("field.visit.save"));
  const hint = h("p.muted.small");

  const refresh = () => {
    proofState.dataset.proof = proof ? proof.proof : "";
    proofState.className = `proof-state ${proof ? "ok" : needsQr ? "warn" : ""}`;
    proofState.textContent = proof ? t(proof.proof === "qr" ? "field.visit.proof_qr" : "field.visit.proof_code")
      : needsQr ? t("field.visit.proof_needed") : t("field.visit.proof_optional");
    const missing = (item.checks || []).filter((c) => !answers.has(c.id)).length;
    save.disabled = (needsQr && !proof) || missing > 0;
    hint.textContent = missing ? t("field.visit.answer_all", { n: missing }) : "";
    const problem = [...answers.values()].some((a) => !a.ok);
    save.textContent = problem ? t("field.visit.save_report") : t("field.visit.save");
  };

  const panel = proofPanel([cp], (p) => { proof = { ...p, checkpoint_id: cp.id }; panelWrap.hidden = true; refresh(); });
  const panelWrap = h("div", {}, panel.el);
  panelWrap.hidden = Boolean(proof);

  const checkRows = (item.checks || []).map((c) => {
    const note = h("input", { placeholder: t("field.visit.note"), hidden: true, "data-note": c.id });
    const ok = h("button.answer.ok", { type: "button", "data-check": c.id, "data-answer": "ok", "aria-pressed": "false" }, "✓ ", t("field.visit.ok"));
    const bad = h("button.answer.bad", { type: "button", "data-check": c.id, "data-answer": "problem", "aria-pressed": "false" }, "✕ ", t("field.visit.problem"));
    const set = (value) => {
      answers.set(c.id, { check_id: c.id, ok: value, note: "" });
      ok.setAttribute("aria-pressed", String(value));
      bad.setAttribute("aria-pressed", String(!value));
      note.hidden = value;
      refresh();
    };
    ok.addEventListener("click", () => set(true));
    bad.addEventListener("click", () => set(false));
    note.addEventListener("input", () => { const a = answers.get(c.id); if (a) a.note = note.value.trim(); });
    return h("div.check", {}, h("p.check-label", {}, pick(c, "label")), h("div.answers", {}, ok, bad), note);
  });

  save.addEventListener("click", async () => {
    if (photos.busy()) { toast(t("field.photo.wait")); return; }
    save.disabled = true;
    const list = (item.checks || []).map((c) => answers.get(c.id));
    const visit = await recordVisit(ctx.user, round, {
      checkpoint_id: cp.id, proof: proof ? proof.proof : "none", secret: proof ? proof.secret : null,
      answers: list, photos: photos.value(),
    });
    ctx.queued();
    if (visit.problem) {
      const failed = list.filter((a) => !a.ok).map((a) => a.check_id).join(",");
      ctx.go(`#/finding?round=${round.id}&visit=${visit.id}&cp=${cp.id}&checks=${failed}`);
    } else {
      toast(t("field.visit.saved"));
      ctx.go(`#/round/${round.id}`);
    }
  });

  const zone = zones.get(cp.zone_id);
  mount(view,
    h("p.muted", {}, zone ? zone.name : "", " · ", t("field.visit.item", { n: item.n, total: items.length })),
    proofState, panelWrap,
    h("section", {}, h("h2", {}, t("field.visit.checks")), checkRows),
    h("section", {}, h("h2", {}, t("field.visit.photos")), photos.el),
    hint, save);
  refresh();
  return () => panel.stop();
}
