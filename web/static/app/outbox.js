// The outbox: every action becomes an operation with a UUIDv7 op_id, kept in
// IndexedDB until the server has answered it (Workbox Queue / enketo
// records-queue style: push, peek, removeAfterAck, size). Nothing is ever
// dropped because a request failed: only a per-op result removes an op.
import { uuid7, nowIso } from "./ids.js";
import { req, tx } from "./store.js";

/** Make an op (not yet stored). `recordId` and `photos` let the UI show per-record state. */
export function makeOp(type, data, { recordId = null, photos = [] } = {}) {
  return { op_id: uuid7(), type, at: nowIso(), data, record_id: recordId, photos };
}

/** Add an op inside a transaction that also holds the "outbox" store (atomic with the record it belongs to). */
export function addIn(stores, op) {
  return req(stores.outbox.add(op));
}

export async function push(type, data, opts) {
  const op = makeOp(type, data, opts);
  await tx(["outbox"], "readwrite", (s) => addIn(s, op));
  return op;
}

/** The oldest `limit` ops, in the order they were made. */
export async function peek(limit = 500) {
  return tx(["outbox"], "readonly", (s) => req(s.outbox.getAll(null, limit)));
}

/** Remove one answered op inside a transaction holding "outbox" (atomic with what its answer changes). */
export async function removeIn(stores, opId) {
  const key = await req(stores.outbox.index("op_id").getKey(opId));
  if (key === undefined) return false;
  await req(stores.outbox.delete(key));
  return true;
}

/** Remove the ops whose results came back (by op_id); the others stay for the next attempt. */
export async function removeAfterAck(opIds) {
  if (!opIds.length) return 0;
  return tx(["outbox"], "readwrite", async (s) => {
    let removed = 0;
    for (const id of opIds) if (await removeIn(s, id)) removed += 1;
    return removed;
  });
}

export async function size() {
  return tx(["outbox"], "readonly", (s) => req(s.outbox.count()));
}

/** Every op still waiting (for per-record state). */
export async function pending() {
  return tx(["outbox"], "readonly", (s) => req(s.outbox.getAll()));
}
