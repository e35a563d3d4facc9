// Ids made on the phone: UUIDv7 (48 bits of Unix milliseconds, then random), so
// records and operations sort by creation time (shared/SYNC.md).
let lastMs = 0;
let seq = 0;

export function uuid7() {
  let ms = Date.now();
  // Several ids in the same millisecond keep their order through a 12-bit counter.
  if (ms <= lastMs) { seq += 1; if (seq > 0xfff) { lastMs += 1; seq = 0; } ms = lastMs; } else { lastMs = ms; seq = 0; }
  const b = crypto.getRandomValues(new Uint8Array(16));
  const msHex = ms.toString(16).padStart(12, "0");
  for (let i = 0; i < 6; i++) b[i] = parseInt(msHex.slice(i * 2, i * 2 + 2), 16);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function nowIso() {
  // Local time with its offset, as the contract asks (ISO 8601 with an offset).
  const d = new Date();
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}
