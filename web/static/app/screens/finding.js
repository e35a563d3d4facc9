// Reporting a finding: category (the contract's codes, names and icons from the
// standard), severity, note, one or more photos, optional location. Saved to
// IndexedDB at once; the server opens a rectification when it arrives.
import { h, mount, photoPicker, toast } from "../dom.js";
import { t, pick, categories } from "../i18n.js";
import { serverList } from "../store.js";
import { checkpointMap, record, reportFinding, suggestCategory } from "../data.js";

export async function render(view, { query }, ctx) {
  const roundId = query.get("round");
  const visitId = query.get("visit");
  const cpId = query.get("cp");
  ctx.setTitle(t("field.finding.title"), Boolean(roundId));
  const [sites, zones, cps, round] = await Promise.all([serverList("sites"), serverList("zones"), checkpointMap(), roundId ? record(roundId) : null]);
  const cp = cpId ? cps.get(cpId) : null;
  const mySites = sites.filter((s) => (ctx.user.site_ids || []).includes(s.id));
  let siteId = (round && round.site_id) || (cp && cp.site_id) || (mySites[0] && mySites[0].id) || (ctx.user.site_ids || [])[0];
  let category = suggestCategory((query.get("checks") || "").split(",").filter(Boolean));
  let severity = "normal";
  let position = null;

  const catButtons = categories.filter((c) => !c.reception).map((c) => h("button.category", {
    type: "button", "data-category": c.code, "aria-pressed": String(c.code === category),
    onclick: () => { category = c.code; for (const b of catButtons) b.setAttribute("aria-pressed", String(b.dataset.category === category)); refresh(); },
  }, h("span.icon", {}, c.icon), h("span", {}, pick(c))));
  const sevButtons = ["normal", "emergency"].map((s) => h(`button.severity.${s}`, {
    type: "button", "data-severity": s, "aria-pressed": String(s === severity),
    onclick: () => { severity = s; for (const b of sevButtons) b.setAttribute("aria-pressed", String(b.dataset.severity === severity)); },
  }, t(`field.severity.${s}`)));
  const note = h("textarea", { name: "note", rows: 3, maxlength: 2000, placeholder: t("field.finding.note_placeholder") });
  const photos = photoPicker({ name: "finding" });
  const siteZones = () => zones.filter((z) => z.site_id === siteId);
  const zoneSelect = h("select", { name: "zone" }, h("option", { value: "" }, t("field.finding.no_zone")),
    siteZones().map((z) => h("option", { value: z.id, selected: cp && cp.zone_id === z.id }, z.name)));
  const siteSelect = mySites.length > 1 ? h("select", {
    name: "site", onchange: (e) => { siteId = e.target.value; },
  }, mySites.map((s) => h("option", { value: s.id, selected: s.id === siteId }, s.name))) : null;
  const where = h("span.muted.small", { "data-location": "" });
  const locate = h("button", {
    type: "button", "data-action": "locate",
    onclick: () => {
      if (!navigator.geolocation) { where.textContent = t("field.finding.no_location"); return; }
      where.textContent = t("field.finding.locating");
      navigator.geolocation.getCurrentPosition(
        (p) => { position = p.coords; where.textContent = t("field.finding.located", { m: Math.round(p.coords.accuracy) }); },
        () => { where.textContent = t("field.finding.no_location"); },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    },
  }, "📍 ", t("field.finding.add_location"));
  const hint = h("p.muted.small");
  const save = h("button.primary.big", { type: "button", "data-action": "save-finding" }, t("field.finding.save"));
  const refresh = () => {
    const n = photos.value().length;
    save.disabled = !category || !siteId;
    hint.textContent = !category ? t("field.finding.pick_category") : n ? "" : t("field.finding.photo_needed");
  };
  photos.el.addEventListener("change", refresh);
  new MutationObserver(refresh).observe(photos.el, { attributes: true, attributeFilter: ["data-count"] });

  save.addEventListener("click", async () => {
    if (photos.busy()) { toast(t("field.photo.wait")); return; }
    if (!photos.value().length) { toast(t("field.finding.photo_needed"), "bad"); return; }
    save.disabled = true;
    await reportFinding(ctx.user, {
      site_id: siteId, category, severity, note: note.value.trim(), photos: photos.value(),
      checkpoint_id: cp ? cp.id : null, zone_id: zoneSelect.value || (cp && cp.zone_id) || null, visit_id: visitId,
      round_id: roundId, lat: position ? position.latitude : null, lng: position ? position.longitude : null,
    });
    ctx.queued();
    toast(t("field.finding.saved"));
    ctx.go(roundId ? `#/round/${roundId}` : "#/");
  });

  mount(view,
    cp ? h("p.notice", {}, t("field.finding.at", { name: cp.name })) : null,
    siteSelect ? h("label", {}, t("field.finding.site"), siteSelect) : null,
    h("h2", {}, t("field.finding.category")), h("div.categories", {}, catButtons),
    h("h2", {}, t("field.finding.severity")), h("div.answers", {}, sevButtons),
    h("h2", {}, t("field.visit.photos")), photos.el,
    h("label", {}, t("field.finding.note"), note),
    h("label", {}, t("field.finding.zone"), zoneSelect),
    h("div.inline", {}, locate, where),
    hint, save);
  refresh();
}
