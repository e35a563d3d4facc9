// Photos: taken with the phone's camera (<input type=file capture>), resized
// on the phone to a longest edge of 1600 px and re-encoded as JPEG (~0.75), so
// a 12-megapixel photo becomes a few hundred KB before it is stored. The blob
// stays in IndexedDB, keyed by its SHA-256, until the server confirms it.
import { req, tx } from "./store.js";

export const MAX_EDGE = 1600;
export const QUALITY = 0.75;
const THUMB_EDGE = 320;

export function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

function fit(width, height, edge) {
  const scale = Math.min(1, edge / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

async function encode(bitmap, edge, quality) {
  const [w, h] = fit(bitmap.width, bitmap.height, edge);
  if (typeof OffscreenCanvas !== "undefined") {
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
    return { blob: await canvas.convertToBlob({ type: "image/jpeg", quality }), width: w, height: h };
  }
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  return { blob, width: w, height: h };
}

/** Resize, re-encode, hash and store one picked file; returns its description (not the blob). */
export async function addPhoto(file) {
  // EXIF orientation is applied here, so the stored JPEG is upright without it.
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  let full;
  let thumb;
  try {
    full = await encode(bitmap, MAX_EDGE, QUALITY);
    thumb = await encode(bitmap, THUMB_EDGE, 0.6);
  } finally {
    bitmap.close();
  }
  const sha256 = await sha256Hex(await full.blob.arrayBuffer());
  const photo = {
    sha256, blob: full.blob, type: "image/jpeg", bytes: full.blob.size, width: full.width, height: full.height,
    original_bytes: file.size, state: "local", attached: false, created_at: new Date().toISOString(),
  };
  await tx(["photos", "thumbs"], "readwrite", async (s) => {
    const existing = await req(s.photos.get(sha256));
    // The same picture twice is one photo; a confirmed one stays confirmed.
    if (!existing) await req(s.photos.put(photo));
    await req(s.thumbs.put({ sha256, blob: thumb.blob }));
  });
  return { sha256, width: full.width, height: full.height, bytes: full.blob.size };
}

/** Forget a photo picked for a form that was then removed from it (never one a record uses). */
export async function discardPhoto(sha256) {
  await tx(["photos", "thumbs"], "readwrite", async (s) => {
    const p = await req(s.photos.get(sha256));
    if (p && !p.attached) {
      await req(s.photos.delete(sha256));
      await req(s.thumbs.delete(sha256));
    }
  });
}

/** Photos picked but never attached to a saved record, older than a day, are dropped. */
export async function dropOrphans(maxAgeMs = 24 * 3600 * 1000) {
  const cutoff = Date.now() - maxAgeMs;
  await tx(["photos", "thumbs"], "readwrite", async (s) => {
    const photos = await req(s.photos.getAll());
    for (const p of photos) {
      if (!p.attached && p.state === "local" && Date.parse(p.created_at) < cutoff) {
        await req(s.photos.delete(p.sha256));
        await req(s.thumbs.delete(p.sha256));
      }
    }
  });
}

const urls = new Map();

/** An object URL for a photo's thumbnail (own photos, or ones fetched for a rectification). */
export async function thumbUrl(sha256) {
  if (urls.has(sha256)) return urls.get(sha256);
  const row = await tx(["thumbs"], "readonly", (s) => req(s.thumbs.get(sha256)));
  if (!row) return null;
  const url = URL.createObjectURL(row.blob);
  urls.set(sha256, url);
  return url;
}
