// The inbox on the phone: a bell with the unread count in the top bar and the
// notifications the last pull brought (shared/SYNC.md `notifications[]`), so it
// works offline and where Web Push never arrives (mainland China). Loaded by the
// field app as an extension; it gets window.xunjian.
import { h, mount } from "../dom.js";
import { formatTime } from "../i18n.js";
import { kv, put, serverList } from "../store.js";

const PENDING = "notify.readPending"; // ids read on the phone the server has not heard of yet

async function rows() {
  const list = await serverList("notifications");
  return list.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
}

function init(app) {
  const bar = document.querySelector("header.bar");
  if (!bar || document.getElementById("xj-inbox-bell")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/app/ext/inbox.css" }));
  const count = h("span.notify-count", { "data-unread": "0" });
  const bell = h("button.notify-bell", { id: "xj-inbox-bell", type: "button", "aria-label": app.t("notify.inbox.title") },
    "🔔", count);
  const dialog = h("dialog.notify-dialog", { id: "xj-inbox" });
  bar.append(bell);
  document.body.append(dialog);

  async function flush() {
    // The server learns what was read when the phone is online; until then it is kept here.
    const ids = (await kv.get(PENDING)) || [];
    if (!ids.length || !navigator.onLine || !app.ctx.auth) return;
    try {
      const res = await fetch("/api/notifications/read", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${app.ctx.auth.token}` },
        body: JSON.stringify({ ids }),
      });
      if (res.ok || res.status === 400) await kv.set(PENDING, []);
    } catch (_) { /* offline after all: next time */ }
  }

  async function markRead(ids) {
    const wanted = new Set(ids.filter(Boolean));
    if (!wanted.size) return;
    for (const row of await rows()) {
      if (!wanted.has(row.id) || row.read) continue;
      row.read = true;
      await put("server", { key: `notifications:${row.id}`, type: "notifications", id: row.id, value: row });
    }
    await kv.set(PENDING, [...new Set([...((await kv.get(PENDING)) || []), ...wanted])]);
    await refresh();
    await flush();
  }

  function follow(url) {
    // The app's own pages are hash routes of /app; anything else is a page of this site.
    if (url.startsWith("/app#")) location.hash = url.slice(4);
    else if (url.startsWith("/")) location.href = url;
  }

  async function render() {
    const list = await rows();
    const unread = list.filter((r) => !r.read).map((r) => r.id);
    const items = list.map((r) => h(`li.notify-item.kind-${r.kind}${r.read ? "" : ".unread"}`, { "data-id": r.id },
      h("button", {
        type: "button",
        onclick: async () => { dialog.close(); await markRead([r.id]); follow(r.url || "/app"); },
      },
      h("strong", {}, r.title), r.read ? null : h("span.notify-new", {}, ` ${app.t("notify.inbox.new")}`),
      h("span.notify-body", {}, r.body), h("time.muted.small", { datetime: r.created_at }, formatTime(r.created_at, true)))));
    mount(dialog,
      h("h2", {}, app.t("notify.inbox.title")),
      h("p.muted.small", {}, app.t("notify.inbox.offline_note")),
      items.length ? h("ul.notify-list", {}, items) : h("p.muted", {}, app.t("notify.inbox.empty")),
      unread.length ? h("button.big", { type: "button", "data-action": "read-all", onclick: () => markRead(unread).then(render) },
        app.t("notify.inbox.mark_all")) : null,
      h("button.primary.big", { type: "button", "data-action": "close", onclick: () => dialog.close() }, "✕"));
  }

  async function refresh() {
    const unread = (await rows()).filter((r) => !r.read).length;
    count.textContent = unread ? String(unread) : "";
    count.dataset.unread = String(unread);
    bell.setAttribute("aria-label", `${app.t("notify.inbox.title")} · ${app.t("notify.inbox.unread", { count: unread })}`);
    if (dialog.open) await render();
  }

  bell.addEventListener("click", async () => { await render(); dialog.showModal(); });
  app.sync.events.addEventListener("change", () => { refresh(); if (!app.sync.state.running) flush(); });
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      const msg = event.data || {};
      // A push arrived: pull, so the inbox has it even if the person never taps the notification.
      if (msg.type === "xj-notification") app.ctx.syncNow();
      if (msg.type === "xj-notification-read") markRead([msg.id]);
    });
  }
  refresh();
  flush();
}

if (window.xunjian) init(window.xunjian);
