/* Xunjian field app service worker (served at /sw.js by server/fieldapp).
 *
 * The server fills XJ with this deployment's version (a content hash of every
 * precached asset), the precache list and the scripts to import. It only ever
 * answers GET requests: writes travel as JSON through the IndexedDB outbox and
 * /sync/push, never as requests replayed by the worker.
 */
const XJ = /*XJ_CONFIG*/{};
const CACHE_PREFIX = "xj-shell-";
const CACHE = CACHE_PREFIX + XJ.version;

// Other domains hook in here (e.g. web/static/sw-push.js adds push and
// notificationclick handlers); a failing import must not stop the app shell.
for (const url of XJ.imports || []) {
  try { importScripts(url); } catch (err) { console.warn("sw: could not import", url, err); }
}

const FILES_KEY = "/__xj-files"; // the url -> content hash list of a cache, kept inside it

/** Files whose content is unchanged since a previous version are copied from its cache. */
async function copyUnchanged(cache) {
  const names = (await caches.keys()).filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE);
  const copied = new Set();
  for (const name of names) {
    const old = await caches.open(name);
    const listed = await old.match(FILES_KEY);
    if (!listed) continue;
    const hashes = await listed.json();
    for (const url of XJ.precache) {
      if (copied.has(url) || hashes[url] !== XJ.files[url]) continue;
      const hit = await old.match(url);
      if (hit) { await cache.put(url, hit); copied.add(url); }
    }
  }
  return copied;
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const copied = await copyUnchanged(cache);
    // "no-cache" revalidates with the server, so a new version never caches a stale file.
    await cache.addAll(XJ.precache.filter((url) => !copied.has(url))
      .map((url) => new Request(url, { cache: "no-cache", credentials: "same-origin" })));
    await cache.put(FILES_KEY, new Response(JSON.stringify(XJ.files), { headers: { "Content-Type": "application/json" } }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "version" && event.ports[0]) {
    event.ports[0].postMessage({ version: XJ.version });
  }
});

const PASS_THROUGH = ["/sync/", "/api/", "/photos/", "/console", "/admin", "/schema", "/logout", "/lang/"];

async function fromCache(url) {
  const cache = await caches.open(CACHE);
  return cache.match(url, { ignoreSearch: true });
}

async function shell() {
  return (await fromCache(XJ.shell)) || fetch(XJ.shell);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (PASS_THROUGH.some((p) => path.startsWith(p))) return;
  if (request.mode === "navigate") {
    if (path === XJ.shell || path.startsWith(XJ.shell + "/")) {
      // The shell is versioned with this worker: open it from the cache at once.
      event.respondWith(shell());
    } else {
      // Other pages (/, /login) come from the server; offline, the app opens instead.
      event.respondWith(fetch(request).catch(() => shell()));
    }
    return;
  }
  if (XJ.precache.includes(path)) {
    event.respondWith(fromCache(path).then((hit) => hit || fetch(request)));
  }
});
