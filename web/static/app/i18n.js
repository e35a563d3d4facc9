// Translations: the same catalogues as the server (web/i18n/<lang>/app.json),
// with the finding categories, in /app/boot.json: precached by the service
// worker with the shell, so they are there offline.
const boot = await (await fetch("/app/boot.json", { credentials: "same-origin" })).json();
export const LANGUAGES = ["zh-CN", "en"];
let language = boot.default_language || "zh-CN";

export function normalise(value) {
  return value && String(value).toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

/** The language cookie the server's pages use (set by /lang/<x>), if any. */
export function cookieLanguage() {
  const m = document.cookie.match(/(?:^|;\s*)xj_lang=([^;]+)/);
  return m ? normalise(decodeURIComponent(m[1])) : null;
}

export function setLanguage(value) {
  language = normalise(value);
  document.documentElement.lang = language;
  // Server pages (login, error pages) follow the same choice.
  document.cookie = `xj_lang=${encodeURIComponent(language)}; path=/; max-age=31536000; samesite=lax`;
  return language;
}

export function lang() {
  return language;
}

/** The text of `key` with {name} placeholders filled; a missing key shows as itself (tests look for that). */
export function t(key, params = {}) {
  const text = boot.i18n[language][key] ?? boot.i18n[boot.default_language][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** The zh or en one of a pair of names carried by the data (label_zh/label_en, name_zh/name_en, zh/en). */
export function pick(obj, base = "") {
  if (!obj) return "";
  const zh = obj[base ? `${base}_zh` : "zh"];
  const en = obj[base ? `${base}_en` : "en"];
  return (language === "en" ? en || zh : zh || en) || obj.name || "";
}

export const categories = boot.categories;
export const extensions = boot.extensions || [];

export function category(code) {
  return categories.find((c) => c.code === code) || { code, zh: code, en: code, icon: "❓" };
}

let timeZone;

/** Times are shown in the site's time zone (the phone's own clock zone may differ). */
export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    timeZone = zone;
  } catch (_) {
    timeZone = undefined;
  }
}

/** A time (or instant in ms) in the site's zone with these Intl options; hours are always 24-hour. */
export function formatWith(iso, options) {
  if (iso == null || iso === "") return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const clock = options.hour ? { hourCycle: "h23" } : {};
  return new Intl.DateTimeFormat(language, { ...options, ...clock, timeZone }).format(d);
}

export function formatTime(iso, withDate = false) {
  const opts = withDate ? { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  return formatWith(iso, opts);
}

/** The site's calendar day of a time, as YYYY-MM-DD (to tell today's windows from tomorrow's). */
export function siteDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone }).format(d);
}

export function formatBytes(n) {
  if (n == null) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}
