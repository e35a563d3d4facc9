// Sync with the server (shared/SYNC.md): photos first (HEAD, then PUT when the
// server lacks one), then the outbox in batches, then a pull. It runs on load,
// when the phone comes online, every few minutes while the app is open and
// from the "sync now" button; failures back off and nothing is dropped.
import * as outbox from "./outbox.js";
import { kv, req, tx } from "./store.js";
import { nowIso } from "./ids.js";

const MAX_OPS = 500;
const MAX_BYTES = 900 * 1024; // the server takes 1 MiB per push; room for the envelope
const PERIOD_MS = 3 * 60 * 1000;
const BACKOFF_FIRST_MS = 5000;
const BACKOFF_MAX_MS = 5 * 60 * 1000;
const PULL_TYPES = ["sites", "zones", "checkpoints", "templates", "rectifications", "staff", "notifications"];
const PERMANENT_PHOTO_ERRORS = [400, 413, 415, 422];

export const events = new EventTarget();
export const state = {
  running: false, lastSuccess: null, lastError: null, failures: 0, nextRetryAt: null,
  needsLogin: false, photosFailed: 0, skewSeconds: 0,
};
let again = false;
let timer = null;
let current = null;

class AuthError extends Error {
  constructor(code) { super(code); this.code = code; }
}
class HttpError extends Error {
  constructor(status, code = "") { super(`HTTP ${status} ${code}`); this.status = status; this.code = code; }
}

function emit() {
  events.dispatchEvent(new Event("change"));
}

async function auth() {
  return kv.get("auth");
}

async function api(path, options = {}) {
  const a = await auth();
  if (!a || !a.token) throw new AuthError("bad_token");
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${a.token}` };
  const res = await fetch(path, { ...options, headers, cache: "no-store", credentials: "omit" });
  if (res.status === 401) {
    let code = "token_expired";
    try { code = (await res.json()).code || code; } catch (_) { /* HEAD has no body */ }
    throw new AuthError(code);
  }
  return res;
}

async function errorCode(res) {
  try { return await res.json(); } catch (_) { return {}; }
}

// ---- photos -------------------------------------------------------------

async function confirmPhoto(sha256) {
  await tx(["photos"], "readwrite", async (s) => {
    const p = await req(s.photos.get(sha256));
    if (p) await req(s.photos.put({ ...p, blob: null, state: "confirmed", confirmed_at: nowIso() }));
  });
}

async function rejectPhoto(photo, status, body) {
  await tx(["photos", "attention"], "readwrite", async (s) => {
    await req(s.photos.put({ ...photo, state: "rejected" }));
    await req(s.attention.put({
      op_id: `photo:${photo.sha256}`, type: "photo", status: "rejected", code: body.code || String(status),
      reason: body.reason || "", at: nowIso(), data: { sha256: photo.sha256 },
    }));
  });
}

/** Upload every attached photo the server has not confirmed; returns how many failed this time. */
async function uploadPhotos() {
  const photos = await tx(["photos"], "readonly", (s) => req(s.photos.getAll()));
  let failed = 0;
  for (const p of photos.filter((x) => x.state === "local" && x.attached && x.blob)) {
    try {
      const url = `/sync/photos/${p.sha256}`;
      const head = await api(url, { method: "HEAD" });
      if (head.status === 200) { await confirmPhoto(p.sha256); continue; }
      if (head.status !== 404) throw new HttpError(head.status);
      const put = await api(url, { method: "PUT", headers: { "Content-Type": p.type || "image/jpeg" }, body: p.blob });
      if (put.status === 200 || put.status === 201) { await confirmPhoto(p.sha256); continue; }
      if (PERMANENT_PHOTO_ERRORS.includes(put.status)) { await rejectPhoto(p, put.status, await errorCode(put)); continue; }
      throw new HttpError(put.status);
    } catch (err) {
      if (err instanceof AuthError) throw err;
      // The blob stays; the remaining photos wait for the next attempt (back-off).
      failed += 1;
      state.lastError = String(err.message || err);
      break;
    }
  }
  return failed;
}

// ---- push ---------------------------------------------------------------

function attentionRow(op, result) {
  return {
    op_id: op.op_id, type: op.type, data: op.data, record_id: op.record_id, at: op.at,
    status: result.status, original_status: result.original_status || "", code: result.code || "",
    reason: result.reason || "", state: result.state || "", received_at: nowIso(),
  };
}

async function applyResults(ops, results) {
  const byId = new Map(ops.map((op) => [op.op_id, op]));
  await tx(["outbox", "attention", "records"], "readwrite", async (s) => {
    for (const r of results) {
      const op = byId.get(r.op_id);
      if (!op) continue;
      const outcome = r.status === "duplicate" ? r.original_status || "applied" : r.status;
      if (!["applied", "duplicate", "conflict", "rejected"].includes(r.status)) continue; // unknown: keep it
      if (outcome === "rejected" || outcome === "conflict") await req(s.attention.put(attentionRow(op, r)));
      if (r.missing_photos && r.missing_photos.length && op.record_id) {
        const rec = await req(s.records.get(op.record_id));
        if (rec) await req(s.records.put({ ...rec, missing_photos: r.missing_photos }));
      }
      await outbox.removeIn(s, op.op_id);
    }
  });
}

function batchBody(ops, deviceId) {
  let batch = ops;
  for (;;) {
    const body = JSON.stringify({ device_id: deviceId, device_time: nowIso(), ops: batch.map(({ op_id, type, at, data }) => ({ op_id, type, at, data })) });
    if (body.length <= MAX_BYTES || batch.length === 1) return { batch, body };
    batch = batch.slice(0, Math.ceil(batch.length / 2));
  }
}

async function pushOps() {
  const a = await auth();
  let limit = MAX_OPS;
  for (;;) {
    const ops = await outbox.peek(limit);
    if (!ops.length) return;
    const { batch, body } = batchBody(ops, a.device_id);
    const sentAt = Date.now();
    const res = await api("/sync/push", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    if (res.status === 413 && batch.length > 1) { limit = Math.max(1, Math.floor(batch.length / 2)); continue; }
    if (!res.ok) throw new HttpError(res.status, (await errorCode(res)).code);
    const payload = await res.json();
    if (payload.server_time) state.skewSeconds = Math.round((Date.parse(payload.server_time) - (sentAt + Date.now()) / 2) / 1000);
    await applyResults(batch, payload.results || []);
    if ((payload.results || []).length < batch.length) throw new HttpError(res.status, "short_answer");
  }
}

// ---- pull ---------------------------------------------------------------

/** My finished rounds whose finish the server has answered: the pull about to start has judged them. */
async function answeredRounds() {
  return tx(["records", "outbox"], "readonly", async (s) => {
    const waiting = new Set((await req(s.outbox.getAll())).map((o) => o.op_id));
    const rounds = await req(s.records.index("kind").getAll("round"));
    return rounds.filter((r) => r.finished_at && !r.server_judged && !waiting.has(r.finish_op_id || r.op_ids[r.op_ids.length - 1]))
      .map((r) => r.id);
  });
}

async function pull() {
  const cursor = await kv.get("cursor");
  // Read before the request: a round finished (or answered) meanwhile is not in this pull's due[].
  const answered = await answeredRounds();
  const res = await api(`/sync/pull${cursor ? `?since=${encodeURIComponent(cursor)}` : ""}`);
  if (!res.ok) throw new HttpError(res.status, (await errorCode(res)).code);
  const data = await res.json();
  await tx(["server", "kv", "records"], "readwrite", async (s) => {
    // From now on the server's due[] speaks for these rounds; the phone stops judging them itself.
    for (const id of answered) {
      const r = await req(s.records.get(id));
      if (r) await req(s.records.put({ ...r, server_judged: true }));
    }
    if (data.full) await req(s.server.clear());
    // due[] always comes whole (it depends on the clock): replace it.
    for (const key of await req(s.server.index("type").getAllKeys("due"))) await req(s.server.delete(key));
    (data.due || []).forEach((d, i) => s.server.put({ key: `due:${d.template_id}:${d.window_start}:${i}`, type: "due", id: d.template_id, value: d }));
    for (const type of PULL_TYPES) {
      for (const item of data[type] || []) s.server.put({ key: `${type}:${item.id}`, type, id: item.id, value: item });
    }
    for (const d of data.deleted || []) {
      for (const type of new Set([d.type, `${d.type}s`, d.type === "staff" ? "staff" : d.type])) s.server.delete(`${type}:${d.id}`);
    }
    if (data.me) s.kv.put(data.me, "me");
    if (data.settings) s.kv.put(data.settings, "settings");
    s.kv.put(data.cursor, "cursor");
    s.kv.put(data.server_time, "server_time");
  });
  return data;
}

/** Keep the "before" photos of my rectifications on the phone so they show offline. */
async function fetchRectPhotos() {
  const me = await kv.get("me");
  if (!me) return;
  const rows = await tx(["server"], "readonly", (s) => req(s.server.index("type").getAll("rectifications")));
  const wanted = rows.map((r) => r.value).filter((r) => r.assignee_id === me.id && r.state !== "verified")
    .flatMap((r) => r.photos_before || []).slice(0, 60);
  for (const sha of wanted) {
    const have = await tx(["thumbs"], "readonly", (s) => req(s.thumbs.get(sha)));
    if (have) continue;
    const res = await api(`/photos/${sha}?size=thumb`);
    if (!res.ok) continue;
    const blob = await res.blob();
    await tx(["thumbs"], "readwrite", (s) => req(s.thumbs.put({ sha256: sha, blob })));
  }
}

// ---- the loop -----------------------------------------------------------

function schedule(delay) {
  clearTimeout(timer);
  state.nextRetryAt = new Date(Date.now() + delay).toISOString();
  timer = setTimeout(() => syncNow("retry"), delay);
}

async function runOnce() {
  state.photosFailed = await uploadPhotos();
  await pushOps();
  await pull();
  try { await fetchRectPhotos(); } catch (err) { if (err instanceof AuthError) throw err; }
  if (state.photosFailed) throw new HttpError(0, "photos_pending");
}

async function attempt(reason) {
  if (!navigator.onLine) { state.lastError = "offline"; return; }
  if (state.needsLogin || !(await auth())) return;
  state.running = true;
  emit();
  try {
    await runOnce();
    state.failures = 0;
    state.lastError = null;
    state.nextRetryAt = null;
    state.lastSuccess = nowIso();
    await kv.set("lastSuccess", state.lastSuccess);
  } catch (err) {
    if (err instanceof AuthError) {
      // Expired or revoked: ask for the password again; the outbox stays as it is.
      state.needsLogin = true;
      state.lastError = err.code;
      await kv.set("needsLogin", err.code);
    } else {
      state.failures += 1;
      state.lastError = err.code || String(err.message || err);
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (state.failures - 1));
      schedule(Math.round(delay * (0.8 + Math.random() * 0.4)));
    }
  } finally {
    state.running = false;
    emit();
  }
}

/** Sync now (one run at a time across tabs); a call during a run makes one more run afterwards. */
export function syncNow(reason = "manual") {
  if (current) { again = true; return current; }
  const body = async () => {
    do {
      again = false;
      await attempt(reason);
    } while (again && !state.needsLogin && navigator.onLine);
  };
  current = (navigator.locks ? navigator.locks.request("xj-sync", body) : body()).finally(() => { current = null; });
  return current;
}

let soonTimer = null;
/** Something was just queued: send it shortly, unless a back-off is running. */
export function soon() {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(() => {
    if (!state.nextRetryAt || Date.parse(state.nextRetryAt) <= Date.now()) syncNow("queued");
  }, 800);
}

let started = false;

/** What the last runs left behind (last success, an expired login), before the first screen. */
export async function restore() {
  state.lastSuccess = (await kv.get("lastSuccess")) || null;
  state.needsLogin = Boolean(await kv.get("needsLogin"));
}

export async function start() {
  if (started) return;
  started = true;
  window.addEventListener("online", () => { state.failures = 0; syncNow("online"); });
  window.addEventListener("offline", emit);
  setInterval(() => {
    if (!state.nextRetryAt || Date.parse(state.nextRetryAt) <= Date.now()) syncNow("timer");
  }, PERIOD_MS);
  if (!current) syncNow("load");
}

/** After a new login: clear the expired state and sync at once. */
export async function loggedIn() {
  state.needsLogin = false;
  state.failures = 0;
  clearTimeout(timer);
  state.nextRetryAt = null;
  await kv.del("needsLogin");
  emit();
  // Not awaited: the person goes on to the home screen while it runs.
  if (started) syncNow("login");
  else start();
}
