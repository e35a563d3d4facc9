// Web Push on this device: permission is asked only from a button, never on load;
// a granted subscription is re-sent on every open, because browsers replace
// subscriptions silently. Loaded by the field app as an extension (it gets
// window.xunjian) and imported by the console's inbox page (no window.xunjian).

const KEY_URL = "/api/push/key";

export function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(b64url) {
  const text = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function sameKey(subscription, bytes) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return true;
  const a = new Uint8Array(current);
  return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
}

async function registration() {
  // The app's worker (scope "/") carries the push handlers; pages outside the app register it too.
  const existing = await navigator.serviceWorker.getRegistration("/");
  if (!existing) await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function serverKey() {
  const res = await fetch(KEY_URL, { credentials: "same-origin" });
  if (!res.ok) throw new Error(`push key: HTTP ${res.status}`);
  return keyBytes((await res.json()).public_key);
}

function plain(subscription) {
  const json = subscription.toJSON();
  return { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } };
}

async function subscription(create) {
  const reg = await registration();
  const key = await serverKey();
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, key)) {
    // Made for another server key (the server's keys were replaced): it can never work.
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub && create) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  return sub;
}

/** Ask for permission (call from a click) and send the subscription with `send({endpoint, keys})`. */
export async function enable(send) {
  if (!supported()) return "unsupported";
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return "denied";
  const sub = await subscription(true);
  await send(plain(sub));
  return "enabled";
}

/** On every open: re-send a subscription the person already agreed to; never asks for permission. */
export async function resend(send) {
  if (!supported() || Notification.permission !== "granted") return false;
  const sub = await subscription(true);
  if (!sub) return false;
  await send(plain(sub));
  return true;
}

export async function disable(remove) {
  if (!supported()) return;
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg && (await reg.pushManager.getSubscription());
  if (!sub) return;
  const endpoint = sub.endpoint;
  await sub.unsubscribe();
  if (remove) await remove(endpoint);
}

export async function state() {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg && (await reg.pushManager.getSubscription());
  return sub && Notification.permission === "granted" ? "enabled" : "disabled";
}

// The field app: subscriptions travel as `push.subscribe` ops through the outbox
// (shared/SYNC.md), so they reach the server whenever the phone is next online.
function fieldApp(app) {
  const send = (sub) => app.queue("push.subscribe", sub);
  resend(send).catch((err) => console.warn("push: re-send failed", err));

  async function fill(hook) {
    if (!hook || hook.querySelector("#xj-push")) return;
    const status = document.createElement("p");
    status.className = "muted";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary big";
    button.dataset.role = "enable";
    button.textContent = app.t("notify.push.enable");
    const title = document.createElement("h2");
    title.textContent = app.t("notify.push.title");
    const section = document.createElement("section");
    section.id = "xj-push";
    section.className = "card notify-push";
    const show = (s) => {
      status.textContent = app.t(`notify.push.${s}`);
      section.dataset.state = s;
      button.hidden = s === "enabled" || s === "unsupported";
    };
    button.addEventListener("click", async () => {
      try { show(await enable(send)); } catch (err) { console.warn("push: enable failed", err); show("failed"); }
    });
    section.append(title, status, button);
    hook.append(section);
    show(await state());
  }

  // The settings screen leaves a hook element and announces it; it may already be on screen.
  window.addEventListener("xj:settings", (event) => fill(event.detail && event.detail.element));
  fill(document.getElementById("xj-push-hook"));
}

if (window.xunjian) fieldApp(window.xunjian);
