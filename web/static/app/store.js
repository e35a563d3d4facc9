// The phone's database (IndexedDB): what was pulled, what waits to be sent,
// the photos not yet confirmed by the server, and the person's own records.
const DB_NAME = "xunjian";
const DB_VERSION = 1;
let dbPromise = null;

function upgrade(db) {
  db.createObjectStore("kv");
  const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
  outbox.createIndex("op_id", "op_id", { unique: true });
  db.createObjectStore("photos", { keyPath: "sha256" });
  db.createObjectStore("thumbs", { keyPath: "sha256" });
  const records = db.createObjectStore("records", { keyPath: "id" });
  records.createIndex("kind", "kind");
  const server = db.createObjectStore("server", { keyPath: "key" });
  server.createIndex("type", "type");
  db.createObjectStore("attention", { keyPath: "op_id" });
}

export function open() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => upgrade(req.result);
      req.onsuccess = () => {
        const db = req.result;
        // Another tab upgrading the schema: let it, and reopen next time.
        db.onversionchange = () => { db.close(); dbPromise = null; };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error("database blocked by another tab"));
    });
  }
  return dbPromise;
}

function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Run `fn(stores)` in one transaction over `names`; resolves once it has committed. */
export async function tx(names, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode, { durability: "strict" });
    const stores = Object.fromEntries([].concat(names).map((n) => [n, t.objectStore(n)]));
    let result;
    let pending;
    try { pending = Promise.resolve(fn(stores)); } catch (err) { pending = Promise.reject(err); }
    pending.then((r) => { result = r; }, (err) => { try { t.abort(); } catch (_) { /* gone */ } reject(err); });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
}

export const req = done;

export async function get(store, key) {
  return tx([store], "readonly", (s) => done(s[store].get(key)));
}

export async function put(store, value, key) {
  return tx([store], "readwrite", (s) => done(key === undefined ? s[store].put(value) : s[store].put(value, key)));
}

export async function del(store, key) {
  return tx([store], "readwrite", (s) => done(s[store].delete(key)));
}

export async function all(store, index, value) {
  return tx([store], "readonly", (s) => done(index ? s[store].index(index).getAll(value) : s[store].getAll()));
}

export async function count(store) {
  return tx([store], "readonly", (s) => done(s[store].count()));
}

export async function clear(names) {
  return tx(names, "readwrite", (s) => Promise.all(names.map((n) => done(s[n].clear()))));
}

// Small settings and state (token, me, cursor, last sync, language).
export const kv = {
  get: (key) => get("kv", key),
  set: (key, value) => put("kv", value, key),
  del: (key) => del("kv", key),
};

// What the last pulls brought: one row per server record, by type.
export async function serverList(type) {
  const rows = await all("server", "type", type);
  return rows.map((r) => r.value);
}

export async function serverGet(type, id) {
  const row = await get("server", `${type}:${id}`);
  return row ? row.value : null;
}
