// Settings: language, storage use, sync, app version, and the hook where the
// notifications domain adds its push subscription (see "push hook" below).
import { h, mount, toast } from "../dom.js";
import { t, lang, setLanguage, formatBytes, formatTime } from "../i18n.js";
import { clear, kv, all, del } from "../store.js";
import * as sync from "../sync.js";
import { syncSnapshot } from "../data.js";

async function workerVersion(ctx) {
  const sw = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (!sw) return null;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data.version);
    sw.postMessage({ type: "version" }, [channel.port2]);
    setTimeout(() => resolve(null), 1000);
  });
}

export async function render(view, _args, ctx) {
  ctx.setTitle(t("field.nav.settings"));
  const snap = await syncSnapshot();
  const estimate = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate() : null;
  const persisted = navigator.storage && navigator.storage.persisted ? await navigator.storage.persisted() : false;
  const version = await workerVersion(ctx);
  const st = sync.state;

  const languages = ["zh-CN", "en"].map((l) => h("button.big", {
    type: "button", "data-lang": l, "aria-pressed": String(lang() === l),
    onclick: async () => { setLanguage(l); await kv.set("lang", l); ctx.refresh(); },
  }, l === "zh-CN" ? "中文" : "English"));

  // Push hook: extensions (web/static/app/ext/, e.g. the notifications domain's
  // push.js) add their sections here, on "xj:settings" or when #view shows
  // data-route="/settings"; they queue ops through window.xunjian.queue.
  const pushHook = h("div", { id: "xj-push-hook", "data-hook": "push" });

  const logout = h("button.big.danger", {
    type: "button", "data-action": "logout", disabled: snap.outboxSize > 0 || snap.photosWaiting > 0,
    onclick: async () => {
      if (!confirm(t("field.settings.logout_confirm"))) return;
      await clear(["server", "records", "attention", "thumbs", "photos"]);
      for (const key of ["auth", "me", "cursor", "lastSuccess", "needsLogin"]) await kv.del(key);
      await kv.set("explicitLogout", true);
      ctx.auth = null;
      ctx.user = null;
      location.hash = "#/";
      ctx.refresh();
    },
  }, t("field.settings.logout"));

  mount(view,
    h("section.card", {}, h("h2", {}, t("field.settings.language")), h("div.answers", {}, languages)),
    h("section.card", {}, h("h2", {}, t("field.settings.sync")),
      h("p", { "data-outbox": snap.outboxSize }, t("field.home.waiting", { n: snap.outboxSize, photos: snap.photosWaiting })),
      h("p.muted", {}, st.lastSuccess ? t("field.home.last_sync", { time: formatTime(st.lastSuccess, true) }) : t("field.home.never_synced")),
      st.lastError && st.lastError !== "offline" ? h("p.muted.small", {}, t("field.settings.last_error", { error: st.lastError })) : null,
      st.nextRetryAt ? h("p.muted.small", {}, t("field.settings.next_retry", { time: formatTime(st.nextRetryAt) })) : null,
      Math.abs(st.skewSeconds) > 300 ? h("p.error.small", {}, t("field.settings.clock_off", { minutes: Math.round(st.skewSeconds / 60) })) : null,
      h("button.primary.big", { type: "button", "data-action": "sync-now", disabled: !navigator.onLine, onclick: () => ctx.syncNow() }, t("field.sync.now")),
      snap.attentionCount ? h("a.button.big.danger", { href: "#/attention" }, t("field.home.attention", { n: snap.attentionCount })) : null),
    h("section.card", {}, h("h2", {}, t("field.settings.storage")),
      h("p", { "data-storage": estimate ? estimate.usage : "" }, estimate ? t("field.settings.storage_use", { used: formatBytes(estimate.usage), quota: formatBytes(estimate.quota) }) : t("field.settings.storage_unknown")),
      h("p.muted.small", { "data-persisted": String(persisted) }, persisted ? t("field.settings.persisted") : t("field.settings.not_persisted")),
      h("p.muted.small", { "data-offline-ready": navigator.serviceWorker && navigator.serviceWorker.controller ? "1" : "0" },
        navigator.serviceWorker && navigator.serviceWorker.controller ? t("field.settings.offline_ready") : t("field.settings.offline_not_ready"))),
    pushHook,
    h("section.card", {}, h("h2", {}, t("field.settings.account")),
      ctx.user ? h("p", {}, ctx.user.name, " · ", t(`role.${ctx.user.role}`)) : null,
      logout, snap.outboxSize ? h("p.muted.small", {}, t("field.settings.logout_blocked")) : null),
    h("p.muted.small.center", { "data-version": version || "" }, t("field.settings.version", { version: version || "—" })));
  window.dispatchEvent(new CustomEvent("xj:settings", { detail: { element: pushHook, ctx } }));
}

/** What the server refused or could not apply, in words a person can act on. */
export async function renderAttention(view, _args, ctx) {
  ctx.setTitle(t("field.attention.title"), true);
  const rows = (await all("attention")).sort((a, b) => (a.at < b.at ? 1 : -1));
  mount(view,
    h("p.muted", {}, t("field.attention.hint")),
    rows.length ? h("ul.list", {}, rows.map((r) => h("li.card", { "data-attention": r.op_id, "data-status": r.original_status || r.status },
      h("strong", {}, t(`field.op.${r.type.replace(".", "_")}`)), " · ", h("span.muted.small", {}, formatTime(r.at, true)),
      h("p", {}, (r.original_status || r.status) === "conflict" ? t("field.attention.conflict", { state: t(`field.rect.state.${r.state || "open"}`) }) : t("field.attention.rejected")),
      r.reason ? h("p.error", {}, r.reason) : r.code ? h("p.error", {}, r.code) : null,
      h("button", { type: "button", onclick: async () => { await del("attention", r.op_id); toast(t("field.attention.dismissed")); ctx.refresh(); } }, t("field.attention.dismiss")))))
      : h("p.ok", {}, t("field.attention.none")));
}
