// Checkpoint proof: the poster's QR code read with the camera (BarcodeDetector
// where the browser has it, otherwise the vendored jsQR decoder), or its short
// code typed by hand (the weaker proof "code"). Both are verified offline by
// hashing against the pulled qr_hash / code_hash; the secret is also sent so
// the server verifies it too.
import { sha256Hex } from "./camera.js";

const JSQR_URL = "/static/vendor/jsQR-1.4.0.min.js";
let jsQRPromise = null;
let detectorPromise = null;

export function normaliseCode(code) {
  return String(code || "").trim().toUpperCase();
}

/** The checkpoint (of `checkpoints`) whose poster carries this QR text, or null. */
export async function matchQr(text, checkpoints) {
  const hash = await sha256Hex(String(text));
  return checkpoints.find((c) => c.qr_hash === hash) || null;
}

export async function matchCode(code, checkpoints) {
  const normalised = normaliseCode(code);
  if (!normalised) return null;
  const hash = await sha256Hex(normalised);
  return checkpoints.find((c) => c.code_hash === hash) || null;
}

function loadJsQR() {
  if (!jsQRPromise) {
    jsQRPromise = new Promise((resolve, reject) => {
      if (window.jsQR) return resolve(window.jsQR);
      const s = document.createElement("script");
      s.src = JSQR_URL;
      s.onload = () => resolve(window.jsQR);
      s.onerror = () => { jsQRPromise = null; reject(new Error("QR decoder failed to load")); };
      document.head.appendChild(s);
    });
  }
  return jsQRPromise;
}

/** A native QR detector when the browser has one (Android Chrome), else null. */
function nativeDetector() {
  if (!detectorPromise) {
    detectorPromise = (async () => {
      if (!("BarcodeDetector" in window)) return null;
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
      } catch (_) {
        return null;
      }
    })();
  }
  return detectorPromise;
}

/** Which decoder this browser uses ("native" or "jsqr"). */
export async function decoderName() {
  return (await nativeDetector()) ? "native" : "jsqr";
}

function pixels(source, width, height, edge) {
  const scale = Math.min(1, edge / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

async function decodeSource(source, width, height) {
  const native = await nativeDetector();
  if (native) {
    const found = await native.detect(source);
    if (found.length) return found[0].rawValue;
  }
  const jsQR = await loadJsQR();
  // A phone photo is large: try a reduced copy first (fast), then full size.
  for (const edge of [1024, 2048]) {
    const img = pixels(source, width, height, edge);
    const result = jsQR(img.data, img.width, img.height, { inversionAttempts: "attemptBoth" });
    if (result && result.data) return result.data;
    if (Math.max(width, height) <= edge) break;
  }
  return null;
}

/** Decode the QR code in a photo of a poster (the fallback when live camera scanning is not possible). */
export async function decodeFile(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  try {
    return await decodeSource(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Scan with the live camera into `video`; calls onText(text) for each QR read. Returns stop(). */
export async function startCamera(video, onText) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  video.srcObject = stream;
  video.setAttribute("playsinline", "");
  video.muted = true;
  await video.play();
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      if (video.videoWidth) {
        const text = await decodeSource(video, video.videoWidth, video.videoHeight);
        if (text && !stopped) onText(text);
      }
    } catch (_) { /* a frame that cannot be read: try the next one */ }
    if (!stopped) setTimeout(tick, 250);
  };
  tick();
  return () => {
    stopped = true;
    stream.getTracks().forEach((tr) => tr.stop());
    video.srcObject = null;
  };
}
