// The phone's view of the work: what the last pull brought, plus the person's
// own records (rounds, visits, findings, rectification steps). Every action
// writes its record and its outbox op in one IndexedDB transaction, so the
// screen and the queue can never disagree after a crash or a closed tab.
import { uuid7, nowIso } from "./ids.js";
import { addIn, makeOp } from "./outbox.js";
import { kv, req, serverGet, serverList, tx, all } from "./store.js";
import * as rule from "./schedule.js";
import { state as syncState } from "./sync.js";

export const FIELD_ROLES = ["guard", "cleaner", "gardener", "technician"];

// A failed check suggests the finding category it most likely is.
const CHECK_CATEGORY = {
  secure: "hazard", staffed: "other", warning_sign: "warning_sign", fire_lane: "fire_safety",
  extinguisher: "fire_safety", swept: "garbage", wiped: "graffiti", collected: "garbage", bins_clean: "garbage",
  cleared: "water_snow", well_clear: "drain", dredged: "drain", treated: "pests", plants_alive: "dead_tree",
  hedge_line: "other", no_pests: "pests", trimmed: "other", lights_on: "lighting",
};

export function suggestCategory(checkIds) {
  for (const id of checkIds) if (CHECK_CATEGORY[id]) return CHECK_CATEGORY[id];
  return "";
}

export async function me() {
  return kv.get("me");
}

export async function templatesForMe(user) {
  const templates = await serverList("templates");
  const mine = FIELD_ROLES.includes(user.role) ? templates.filter((t) => t.role === user.role) : templates;
  return mine.filter((t) => (t.items || []).length);
}

export async function checkpointMap() {
  return new Map((await serverList("checkpoints")).map((c) => [c.id, c]));
}

export async function zoneMap() {
  return new Map((await serverList("zones")).map((z) => [z.id, z]));
}

export const template = (id) => serverGet("templates", id);
export const rectification = (id) => serverGet("rectifications", id);

export async function record(id) {
  return tx(["records"], "readonly", (s) => req(s.records.get(id)));
}

export async function records(kind, owner) {
  const rows = await all("records", "kind", kind);
  return rows.filter((r) => !owner || r.owner === owner).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
}

/** Save records and queue their ops atomically; photos they use are marked attached (to be uploaded). */
async function commit(recordsToPut, ops, photos = []) {
  await tx(["records", "outbox", "photos"], "readwrite", async (s) => {
    for (const sha of photos) {
      const p = await req(s.photos.get(sha));
      if (p) await req(s.photos.put({ ...p, attached: true }));
    }
    for (const r of recordsToPut) await req(s.records.put(r));
    for (const op of ops) await addIn(s, op);
  });
}

export async function startRound(user, tpl) {
  const id = uuid7();
  const at = nowIso();
  const op = makeOp("round.start", { round_id: id, template_id: tpl.id, started_at: at }, { recordId: id });
  const round = {
    id, kind: "round", owner: user.id, template_id: tpl.id, site_id: tpl.site_id, started_at: at,
    finished_at: null, visits: {}, op_ids: [op.op_id], created_at: at,
  };
  await commit([round], [op]);
  return round;
}

/** Record one checkpoint visit: proof, answers, photos. Returns the visit record. */
export async function recordVisit(user, round, v) {
  const id = uuid7();
  const at = nowIso();
  const data = {
    visit_id: id, round_id: round.id, checkpoint_id: v.checkpoint_id, proof: v.proof, scanned_at: v.scanned_at || at,
    answers: v.answers.map((a) => (a.note ? { check_id: a.check_id, ok: a.ok, note: a.note } : { check_id: a.check_id, ok: a.ok })),
    photos: v.photos,
  };
  if (v.secret) data.secret = v.secret;
  for (const k of ["lat", "lng", "accuracy_m"]) if (v[k] != null) data[k] = v[k];
  const op = makeOp("visit.record", data, { recordId: id, photos: v.photos });
  const visit = {
    id, kind: "visit", owner: user.id, round_id: round.id, checkpoint_id: v.checkpoint_id, proof: v.proof,
    answers: v.answers, photos: v.photos, problem: v.answers.some((a) => !a.ok), op_ids: [op.op_id], created_at: at,
  };
  const fresh = (await record(round.id)) || round;
  const updated = { ...fresh, visits: { ...fresh.visits, [v.checkpoint_id]: id } };
  await commit([visit, updated], [op], v.photos);
  return visit;
}

export async function finishRound(user, round) {
  const at = nowIso();
  const op = makeOp("round.finish", { round_id: round.id, finished_at: at }, { recordId: round.id });
  const fresh = (await record(round.id)) || round;
  await commit([{ ...fresh, finished_at: at, finish_op_id: op.op_id, op_ids: [...fresh.op_ids, op.op_id] }], [op]);
}

/** Report a finding; the server opens a rectification with the same id. */
export async function reportFinding(user, f) {
  const id = uuid7();
  const at = nowIso();
  const data = { finding_id: id, site_id: f.site_id, category: f.category, severity: f.severity, photos: f.photos };
  for (const k of ["checkpoint_id", "zone_id", "visit_id", "note", "lat", "lng"]) if (f[k] != null && f[k] !== "") data[k] = f[k];
  const op = makeOp("finding.report", data, { recordId: id, photos: f.photos });
  const finding = { id, kind: "finding", owner: user.id, ...data, round_id: f.round_id || null, op_ids: [op.op_id], created_at: at };
  const put = [finding];
  if (f.visit_id) {
    const visit = await record(f.visit_id);
    if (visit) put.push({ ...visit, finding_id: id });
  }
  await commit(put, [op], f.photos);
  return finding;
}

/** One step on a rectification (start, fix, comment). */
export async function rectStep(user, rect, action, { note = "", photos = [] } = {}) {
  const at = nowIso();
  const data = { rect_id: rect.id, action };
  if (note) data.note = note;
  if (photos.length) data.photos = photos;
  const op = makeOp("rect.transition", data, { photos });
  op.record_id = op.op_id; // a step is its own record
  const step = { id: op.op_id, kind: "rect_step", owner: user.id, rect_id: rect.id, action, note, photos, op_ids: [op.op_id], created_at: at };
  await commit([step], [op], photos);
  return step;
}

// ---- state shown to the person -------------------------------------------

/** Pending op ids, rejected/conflict op ids and photo states, read once per screen. */
export async function syncSnapshot() {
  return tx(["outbox", "attention", "photos"], "readonly", async (s) => {
    const ops = await req(s.outbox.getAll());
    const attention = await req(s.attention.getAll());
    const photos = await req(s.photos.getAll());
    return {
      pending: new Set(ops.map((o) => o.op_id)),
      attention: new Set(attention.map((a) => a.op_id)),
      photoState: new Map(photos.map((p) => [p.sha256, p.state])),
      outboxSize: ops.length,
      photosWaiting: photos.filter((p) => p.state === "local" && p.attached).length,
      attentionCount: attention.length,
    };
  });
}

/** Where a record stands: ops still queued, photos received out of total, anything rejected. */
export function recordState(snapshot, opIds, photos) {
  const received = photos.filter((sha) => snapshot.photoState.get(sha) !== "local" && snapshot.photoState.get(sha) !== "rejected").length;
  const waiting = opIds.filter((id) => snapshot.pending.has(id)).length;
  const attention = opIds.some((id) => snapshot.attention.has(id)) || photos.some((sha) => snapshot.photoState.get(sha) === "rejected");
  return { waiting, received, total: photos.length, attention, done: !waiting && received === photos.length && !attention };
}

/** A round with its visits: every op and photo that belongs to it. */
export async function roundParts(round) {
  const visits = (await records("visit")).filter((v) => v.round_id === round.id);
  return {
    visits,
    opIds: [...round.op_ids, ...visits.flatMap((v) => v.op_ids)],
    photos: visits.flatMap((v) => v.photos || []),
  };
}

// ---- patrol windows ---------------------------------------------------------
// The server's status first: every window of the pull's due[] is shown as the
// server judged it. The phone judges, by the shared rule (schedule.js), only what
// it recorded since: its own finished rounds no pull has answered for yet, and
// the clock (pending turns missed once end + grace has passed). It never makes
// windows of its own: a window the server did not send does not exist here.

/** The grace the server judges with (the pull's settings), else the rule's default; in milliseconds. */
export async function graceMs() {
  const settings = await kv.get("settings");
  const minutes = settings && Number.isFinite(settings.grace_minutes) ? settings.grace_minutes : rule.DEFAULT_GRACE_MINUTES;
  return minutes * 60 * 1000;
}

/** A finished round of mine as the rule sees it: distinct checkpoints of its template visited, of all the template's. */
export function asFinished(round, tpl, skewMs = 0) {
  const items = (tpl && tpl.items) || [];
  const visits = round.visits || {};
  const visited = new Set(items.map((i) => i.checkpoint_id).filter((id) => visits[id])).size;
  // The server judges corrected times (device time + the skew measured on a push): so does the phone.
  return { id: round.id, template_id: round.template_id, finished_at: rule.instant(round.finished_at) + skewMs, visited, required: items.length };
}

/** My finished rounds no pull has answered for yet (sync.js marks them server_judged), in the order they finished. */
export function unjudgedRounds(rounds) {
  return rounds.filter((r) => r.finished_at && !r.server_judged)
    .sort((a, b) => rule.instant(a.finished_at) - rule.instant(b.finished_at) || (a.created_at < b.created_at ? -1 : 1));
}

/**
 * The server's windows with my unjudged rounds settled onto them, each with `shown` (its status now) and
 * `current` (the window its template's start button belongs to). `dues` is the pull's due[].
 */
export function judgeWindows(dues, finished, now, grace) {
  const byTemplate = new Map();
  for (const d of dues) {
    const w = { template_id: d.template_id, start: d.window_start, end: d.window_end, status: d.status,
      round: null, visited: d.visited ?? null, required: d.required ?? null, server_status: d.status };
    if (!byTemplate.has(d.template_id)) byTemplate.set(d.template_id, []);
    byTemplate.get(d.template_id).push(w);
  }
  const judged = [];
  for (const [templateId, windows] of byTemplate) {
    rule.settle(windows, finished.filter((r) => r.template_id === templateId), grace);
    const chosen = rule.current(windows, now, grace);
    for (const w of windows) judged.push({ ...w, shown: rule.statusAt(w.status, w.end, now, grace), current: w === chosen });
  }
  return judged.sort((a, b) => rule.instant(a.start) - rule.instant(b.start));
}

/** Every window of my templates as the home screen shows it now (see judgeWindows). */
export async function homeWindows(user = null, now = Date.now()) {
  const person = user || (await me());
  const skewMs = (syncState.skewSeconds || 0) * 1000;
  const [templates, dues, rounds, grace] = await Promise.all([
    templatesForMe(person), serverList("due"), records("round", person.id), graceMs(),
  ]);
  const byId = new Map(templates.map((x) => [x.id, x]));
  const finished = unjudgedRounds(rounds).filter((r) => byId.has(r.template_id)).map((r) => asFinished(r, byId.get(r.template_id), skewMs));
  return judgeWindows(dues.filter((d) => byId.has(d.template_id)), finished, now + skewMs, grace);
}

/** The rectification's state with my queued steps applied (what it will be once they arrive). */
export function localRectState(rect, steps, snapshot) {
  let st = rect.state;
  for (const step of steps.filter((x) => x.rect_id === rect.id && snapshot.pending.has(x.op_ids[0])).reverse()) {
    if (step.action === "start" && ["open", "assigned", "reopened"].includes(st)) st = "in_progress";
    if (step.action === "fix" && ["open", "assigned", "in_progress", "reopened"].includes(st)) st = "fixed";
  }
  return st;
}
