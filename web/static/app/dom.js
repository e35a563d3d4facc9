// A few DOM helpers: the screens are plain functions that build elements.
import { addPhoto, discardPhoto, thumbUrl } from "./camera.js";
import { t } from "./i18n.js";

/** h("button.big.primary", {onclick, "data-x": 1}, "text", child...) */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = [el.className, value].filter(Boolean).join(" ");
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let toastTimer = null;
export function toast(text, kind = "info") {
  let el = document.getElementById("toast");
  if (!el) { el = h("div", { id: "toast", role: "status" }); document.body.appendChild(el); }
  el.className = `toast ${kind}`;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

export async function thumb(sha256, cls = "thumb") {
  const url = await thumbUrl(sha256);
  return url ? h(`img.${cls}`, { src: url, alt: "", loading: "lazy" }) : h(`span.${cls}.missing`, {}, "🖼");
}

/** A camera button and the photos taken so far; value() gives their SHA-256s. */
export function photoPicker({ name = "photos", label = t("field.photo.add") } = {}) {
  const shas = [];
  const list = h("div.photos", { "data-photos": name });
  const status = h("span.muted.small", { "data-photo-status": name });
  const input = h("input", {
    type: "file", accept: "image/*", capture: "environment", multiple: true, class: "visually-hidden",
    "data-photo-input": name,
  });
  const button = h("label.button.big", {}, "📷 ", label, input);
  let busy = 0;
  const refresh = () => {
    status.textContent = busy ? t("field.photo.processing") : shas.length ? t("field.photo.count", { n: shas.length }) : "";
    wrapper.dataset.busy = busy ? "1" : "0";
    wrapper.dataset.count = String(shas.length);
  };
  const show = async (sha) => {
    const item = h("div.photo", {}, await thumb(sha), h("button.remove", {
      type: "button", "aria-label": t("field.photo.remove"),
      onclick: async () => { shas.splice(shas.indexOf(sha), 1); item.remove(); await discardPhoto(sha); refresh(); },
    }, "✕"));
    list.appendChild(item);
  };
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    busy += files.length;
    refresh();
    for (const file of files) {
      try {
        const p = await addPhoto(file);
        if (!shas.includes(p.sha256)) { shas.push(p.sha256); await show(p.sha256); }
      } catch (err) {
        toast(t("field.photo.failed"), "bad");
      } finally {
        busy -= 1;
        refresh();
      }
    }
  });
  const wrapper = h("div.photo-picker", {}, button, status, list);
  refresh();
  return { el: wrapper, value: () => [...shas], busy: () => busy > 0 };
}

export function chip(text, kind = "") {
  return h(`span.chip${kind ? "." + kind : ""}`, {}, text);
}
