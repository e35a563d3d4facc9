// The phone's view of the work: what the last pull brought, plus the person's
// own records (rounds, visits, findings, rectification steps). Every action
// writes its record and its outbox op in one IndexedDB transaction, so the
// screen and the queue can never disagree after a crash or a closed tab.
import { uuid7, nowIso } from "./ids.js";
import { addIn, makeOp } from "./outbox.js";
import { kv, req, serverGet, serverList, tx, all } from "./store.js";

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
  await commit([{ ...fresh, finished_at: at, op_ids: [...fresh.op_ids, op.op_id] }], [op]);
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

/** Status of a due window now: done, pending (not yet open), due_now, late or missed. */
export function dueStatus(due, localRounds, now = Date.now()) {
  const start = Date.parse(due.window_start);
  const end = Date.parse(due.window_end);
  const doneHere = localRounds.some((r) => r.template_id === due.template_id && r.finished_at
    && Date.parse(r.started_at) >= start - 15 * 60 * 1000 && Date.parse(r.started_at) <= end);
  if (due.status === "done" || doneHere) return "done";
  if (due.status === "missed" || due.status === "late") return due.status;
  if (now < start) return "pending";
  if (now <= end) return "due_now";
  return "late";
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
