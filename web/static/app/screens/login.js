// Logging in once per device: a long-lived device token kept in IndexedDB.
// When it expires the app asks for the password again and keeps the queue.
import { h, mount } from "../dom.js";
import { t, setLanguage, lang } from "../i18n.js";
import { kv } from "../store.js";
import * as sync from "../sync.js";
import { nowIso } from "../ids.js";
import { syncSnapshot } from "../data.js";

export async function saveLogin(ctx, payload, username = "") {
  const auth = { token: payload.token, user: payload.user, device_id: ctx.deviceId, at: nowIso() };
  const previous = await kv.get("me");
  await kv.set("auth", auth);
  // Keep the richer pulled "me" when it is the same person; a new person starts from what login said.
  if (!previous || previous.id !== payload.user.id) await kv.set("me", payload.user);
  if (username) await kv.set("username", username);
  await kv.del("explicitLogout");
  ctx.auth = auth;
  ctx.user = (await kv.get("me")) || payload.user;
  // Ask the browser not to evict the queue and photos under storage pressure.
  if (navigator.storage && navigator.storage.persist) {
    navigator.storage.persist().then((granted) => kv.set("persisted", granted)).catch(() => {});
  }
  await sync.loggedIn();
}

export async function render(view, { query }, ctx) {
  ctx.setTitle(t("field.login.title"));
  const expired = sync.state.needsLogin && ctx.auth;
  const snap = await syncSnapshot();
  const previous = await kv.get("me");
  const username = h("input", { name: "username", autocomplete: "username", autocapitalize: "none", required: true, value: (await kv.get("username")) || "" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p.error", { role: "alert", hidden: true });
  const submit = h("button.primary.big", { type: "submit" }, t("field.login.submit"));
  const fail = (key, params) => { error.textContent = t(key, params); error.hidden = false; submit.disabled = false; };
  const form = h("form.card", {
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      let res;
      try {
        res = await fetch("/api/auth/device", {
          method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit", cache: "no-store",
          body: JSON.stringify({ username: username.value.trim(), password: password.value, device_id: ctx.deviceId, device_name: navigator.userAgent.slice(0, 190) }),
        });
      } catch (_) {
        return fail("field.login.offline");
      }
      if (res.status === 429) return fail("field.login.rate_limited");
      if (!res.ok) return fail("field.login.bad");
      const payload = await res.json();
      // Queued records belong to whoever made them: they are sent under that person's login only.
      if (snap.outboxSize && previous && previous.id !== payload.user.id) return fail("field.login.other_user", { name: previous.name });
      await saveLogin(ctx, payload, username.value.trim());
      location.hash = "#/";
      ctx.refresh();
    },
  },
  h("label", {}, t("field.login.username"), username),
  h("label", {}, t("field.login.password"), password),
  error, submit);
  mount(view,
    h("section.login", {},
      h("p.brand", {}, t("app.name")),
      expired ? h("p.notice.warn", { "data-login": "expired" }, t("field.login.expired")) : null,
      snap.outboxSize ? h("p.notice", { "data-login": "queued" }, t("field.login.queued", { n: snap.outboxSize })) : null,
      navigator.onLine ? null : h("p.notice", {}, t("field.login.need_network")),
      form,
      h("p.center", {}, h("button.link", { type: "button", onclick: () => { kv.set("lang", setLanguage(lang() === "en" ? "zh-CN" : "en")); ctx.refresh(); } }, t("field.settings.other_language")))));
  username.value ? password.focus() : username.focus();
}
