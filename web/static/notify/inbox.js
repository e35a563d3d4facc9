// The inbox page's push switch (console and browser sessions): the subscription
// goes to /api/push/subscribe with the session's CSRF token.
import { disable, enable, resend, state } from "/static/app/ext/push.js";

const section = document.getElementById("xj-push");
const token = document.querySelector('meta[name="xj-csrf"]')?.content || "";

async function post(url, body) {
  const res = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "x-csrftoken": token },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

const send = (sub) => post("/api/push/subscribe", sub);
const remove = (endpoint) => post("/api/push/unsubscribe", { endpoint });

function show(s) {
  const status = section.querySelector('[data-role="status"]');
  status.textContent = section.dataset[s] || "";
  section.dataset.state = s;
  section.querySelector('[data-role="enable"]').hidden = s === "enabled" || s === "unsupported";
  section.querySelector('[data-role="disable"]').hidden = s !== "enabled";
}

async function init() {
  if (!section) return;
  section.hidden = false;
  section.querySelector('[data-role="enable"]').addEventListener("click", async () => {
    try { show(await enable(send)); } catch (err) { console.warn("push: enable failed", err); show("failed"); }
  });
  section.querySelector('[data-role="disable"]').addEventListener("click", async () => {
    try { await disable(remove); show("disabled"); } catch (err) { console.warn("push: disable failed", err); show("failed"); }
  });
  const current = await state();
  show(current);
  // Subscriptions change silently: a granted one is sent again on every visit.
  if (current === "enabled") resend(send).catch(() => {});
}

init();
