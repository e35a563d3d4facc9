// The field app: boot, routing between screens, the top bar's sync state.
import { h, mount, toast } from "./dom.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { kv, serverList } from "./store.js";
import * as sync from "./sync.js";
import { uuid7 } from "./ids.js";
import { dropOrphans } from "./camera.js";
import { syncSnapshot } from "./data.js";
import * as home from "./screens/home.js";
import * as round from "./screens/round.js";
import * as visit from "./screens/visit.js";
import * as finding from "./screens/finding.js";
import * as rects from "./screens/rects.js";
import * as settings from "./screens/settings.js";
import * as login from "./screens/login.js";

const root = document.getElementById("app");
const titleEl = h("h1.title");
const backEl = h("a.back", { href: "#/", "aria-label": t("field.nav.back") }, "‹");
const statusEl = h("a.sync-status", { href: "#/settings", "data-sync": "idle" });
const view = h("main.view", { id: "view" });
const tabs = h("nav.tabs");
let cleanup = null;
let updateWaiting = false;
let renderSeq = 0;

export const ctx = {
  auth: null,
  user: null,
  deviceId: null,
  registration: null,
  go(hash) { if (location.hash === hash) render(); else location.hash = hash; },
  setTitle(text, back = false) { titleEl.textContent = text; backEl.hidden = !back; document.title = `${text} · ${t("app.name")}`; },
  refresh: () => render(),
  syncNow: () => sync.syncNow("manual"),
  queued: () => { sync.soon(); updateStatus(); },
};

const ROUTES = [
  [/^\/?$/, home.render],
  [/^\/round\/([\w-]+)$/, round.render],
  [/^\/round\/([\w-]+)\/finish$/, round.renderFinish],
  [/^\/round\/([\w-]+)\/cp\/([\w-]+)$/, visit.render],
  [/^\/finding$/, finding.render],
  [/^\/rects$/, rects.renderList],
  [/^\/rect\/([\w-]+)$/, rects.renderDetail],
  [/^\/settings$/, settings.render],
  [/^\/attention$/, settings.renderAttention],
  [/^\/start$/, home.renderStart],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

function buildTabs() {
  const items = [["#/", "🏠", "field.nav.home"], ["#/rects", "🛠", "field.nav.rects"], ["#/finding", "⚠️", "field.nav.report"], ["#/settings", "⚙️", "field.nav.settings"]];
  mount(tabs, items.map(([href, icon, key]) => h("a.tab", { href, "data-tab": href }, h("span.icon", {}, icon), h("span", {}, t(key)))));
}

async function followSiteZone() {
  const sites = await serverList("sites");
  const mine = sites.find((x) => ctx.user && (ctx.user.site_ids || []).includes(x.id)) || sites[0];
  if (mine && mine.timezone) i18n.setTimeZone(mine.timezone);
}

async function updateStatus() {
  const snap = await syncSnapshot();
  const st = sync.state;
  let mode = "idle";
  let text = "✓";
  if (st.needsLogin || !ctx.auth) { mode = "login"; text = t("field.status.login"); }
  else if (!navigator.onLine) { mode = "offline"; text = t("field.status.offline", { n: snap.outboxSize }); }
  else if (st.running) { mode = "running"; text = t("field.status.syncing"); }
  else if (snap.attentionCount) { mode = "attention"; text = t("field.status.attention", { n: snap.attentionCount }); }
  else if (snap.outboxSize || snap.photosWaiting) { mode = "waiting"; text = t("field.status.waiting", { n: snap.outboxSize + snap.photosWaiting }); }
  else if (st.lastSuccess) { text = t("field.status.synced"); }
  statusEl.dataset.sync = mode;
  statusEl.dataset.outbox = String(snap.outboxSize);
  statusEl.dataset.photos = String(snap.photosWaiting);
  statusEl.dataset.lastSync = st.lastSuccess || "";
  statusEl.textContent = text;
}

let rendering = null;
let rerender = false;

/** Draw the screen of the current hash; calls during a draw make one more draw after it (never two at once). */
export function render() {
  if (rendering) { rerender = true; return rendering; }
  rendering = (async () => {
    do {
      rerender = false;
      await renderOnce();
    } while (rerender);
  })().finally(() => { rendering = null; });
  return rendering;
}

async function renderOnce() {
  const mine = ++renderSeq;
  if (cleanup) { try { cleanup(); } catch (_) { /* already stopped */ } cleanup = null; }
  const { path, query } = parseHash();
  for (const a of tabs.querySelectorAll("a.tab")) a.classList.toggle("active", a.getAttribute("href") === `#${path}` || (path === "/" && a.dataset.tab === "#/"));
  if (updateWaiting && path === "/") { location.reload(); return; }
  const needsLogin = !ctx.auth || sync.state.needsLogin;
  root.classList.toggle("logged-out", needsLogin);
  try {
    if (needsLogin) {
      cleanup = await login.render(view, { query }, ctx);
    } else {
      const route = ROUTES.find(([re]) => re.test(path));
      if (!route) { ctx.go("#/"); return; }
      const params = path.match(route[0]).slice(1);
      cleanup = await route[1](view, { params, query }, ctx);
    }
  } catch (err) {
    console.error(err);
    if (mine === renderSeq) mount(view, h("p.error", {}, t("field.error.screen")), h("pre.small", {}, String(err && err.message)));
  }
  view.dataset.route = needsLogin ? "login" : path;
  updateStatus();
}

async function sessionLogin() {
  // Just logged in through the server's form: the session buys a device token
  // without typing the password again (shared/SYNC.md, Device login).
  if (!navigator.onLine || (await kv.get("explicitLogout"))) return false;
  try {
    const res = await fetch("/api/auth/device", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ device_id: ctx.deviceId, device_name: navigator.userAgent.slice(0, 190) }),
    });
    if (!res.ok) return false;
    await login.saveLogin(ctx, await res.json());
    return true;
  } catch (_) {
    return false;
  }
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // A new version took over: reload on the home screen, never in the middle of a form.
    if (!hadController) return;
    updateWaiting = true;
    if (parseHash().path === "/") location.reload();
    else toast(t("field.update.ready"));
  });
  try {
    ctx.registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    setInterval(() => ctx.registration.update().catch(() => {}), 30 * 60 * 1000);
  } catch (err) {
    console.warn("service worker not registered", err);
  }
}

async function loadExtensions() {
  // Other domains (e.g. notifications) add modules to web/static/app/ext/; they get window.xunjian.
  window.xunjian = { ctx, t, sync, queue: async (type, data) => { const o = await import("./outbox.js"); const op = await o.push(type, data); ctx.queued(); return op; } };
  for (const url of i18n.extensions) {
    try { await import(url); } catch (err) { console.warn("extension failed", url, err); }
  }
}

async function boot() {
  i18n.setLanguage((await kv.get("lang")) || i18n.cookieLanguage() || "zh-CN");
  ctx.deviceId = (await kv.get("device_id")) || uuid7();
  await kv.set("device_id", ctx.deviceId);
  ctx.auth = await kv.get("auth");
  await sync.restore();
  ctx.user = (await kv.get("me")) || (ctx.auth && ctx.auth.user) || null;
  buildTabs();
  mount(root, h("header.bar", {}, backEl, titleEl, statusEl), view, tabs);
  registerWorker();
  if (!ctx.auth) await sessionLogin();
  await followSiteZone();
  sync.events.addEventListener("change", async () => {
    ctx.user = (await kv.get("me")) || ctx.user;
    if (!sync.state.running) await followSiteZone();
    updateStatus();
    // Screens that show server data or sync state follow each run.
    if (!sync.state.running && ["/", "/rects", "/settings", "/attention"].includes(parseHash().path)) render();
    else if (sync.state.needsLogin) render();
  });
  window.addEventListener("online", updateStatus);
  window.addEventListener("offline", updateStatus);
  window.addEventListener("hashchange", render);
  await render();
  document.getElementById("splash")?.remove();
  root.hidden = false;
  dropOrphans().catch(() => {});
  if (ctx.auth) sync.start();
  loadExtensions();
  document.documentElement.dataset.app = "ready";
}

boot();
