/* Web Push for the Xunjian service worker: imported by /sw.js (importScripts).
 *
 * The server sends a small JSON payload {id, kind, title, body, url, tag}
 * (server/notify/messages.py). The notification opens or focuses the page of
 * `url`, which is always taken as a path on this origin: a payload can never
 * send someone to another site.
 */
(function () {
  "use strict";

  const ICON = "/static/icons/icon-192.png";

  function sameOrigin(raw) {
    try {
      const url = new URL(raw || "/", self.location.origin);
      if (url.origin === self.location.origin) return url.href;
    } catch (_) { /* not a URL: fall through */ }
    return new URL("/", self.location.origin).href;
  }

  function readPayload(event) {
    if (!event.data) return {};
    try {
      return event.data.json() || {};
    } catch (_) {
      return { body: event.data.text() };
    }
  }

  async function show(data) {
    const title = data.title || "巡检 Xunjian";
    await self.registration.showNotification(title, {
      body: data.body || "",
      tag: data.tag || data.id || undefined,
      // An emergency stays on screen until someone acts on it.
      requireInteraction: data.kind === "emergency",
      renotify: Boolean(data.tag),
      icon: ICON,
      badge: ICON,
      lang: "zh-CN",
      data: { id: data.id || null, kind: data.kind || "", url: sameOrigin(data.url) },
    });
    // Open pages may refresh their inbox and unread count at once.
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) client.postMessage({ type: "xj-notification", notification: data });
  }

  self.addEventListener("push", (event) => {
    event.waitUntil(show(readPayload(event)));
  });

  async function openPage(url) {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const exact = windows.find((client) => client.url === url);
    if (exact) return exact.focus();
    // Reuse a window of this site rather than piling up tabs on a phone.
    for (const client of windows) {
      if (!("navigate" in client)) continue;
      try {
        const moved = await client.navigate(url);
        if (moved) {
          try { await moved.focus(); } catch (_) { /* focus needs a click; the page is already there */ }
          return moved;
        }
      } catch (_) { /* not controlled by this worker: try the next one */ }
    }
    return self.clients.openWindow(url);
  }

  function clicked(notification) {
    notification.close();
    const data = notification.data || {};
    const url = sameOrigin(data.url);
    const windows = self.clients.matchAll({ type: "window", includeUncontrolled: true });
    return Promise.all([
      openPage(url),
      windows.then((list) => list.forEach((c) => c.postMessage({ type: "xj-notification-read", id: data.id }))),
    ]);
  }

  self.addEventListener("notificationclick", (event) => {
    event.waitUntil(clicked(event.notification));
  });

  // Test hook: browsers offer no way to click a notification from automation,
  // so the real-browser test asks the worker to run the very same click path.
  self.addEventListener("message", (event) => {
    const msg = event.data || {};
    if (msg.type !== "xj-test-notification-click") return;
    event.waitUntil(self.registration.getNotifications(msg.tag ? { tag: msg.tag } : undefined).then((list) => {
      if (list.length) return clicked(list[0]);
      return undefined;
    }));
  });
})();
