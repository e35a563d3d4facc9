// Proof that the person stood at the checkpoint: scan its poster's QR code
// (live camera, or a photo of the poster), or type its short code.
import { h, toast } from "../dom.js";
import { t } from "../i18n.js";
import { decodeFile, matchCode, matchQr, normaliseCode, startCamera } from "../scan.js";

/**
 * A proof panel for `checkpoints` (the round's, or just one). onProof gets
 * {checkpoint, proof: "qr"|"code", secret}. Returns {el, stop}.
 */
export function proofPanel(checkpoints, onProof) {
  const message = h("p.error", { role: "alert", "data-scan-error": "", hidden: true });
  const video = h("video.scanner", { hidden: true, playsinline: true, muted: true });
  let stop = null;
  const say = (key, params) => { message.textContent = t(key, params); message.hidden = false; };
  const stopCamera = () => { if (stop) { stop(); stop = null; } video.hidden = true; cameraButton.textContent = `📷 ${t("field.scan.camera")}`; };

  const accept = async (text, via) => {
    const cp = await matchQr(text, checkpoints);
    if (!cp) { say("field.scan.unknown"); return false; }
    stopCamera();
    message.hidden = true;
    onProof({ checkpoint: cp, proof: "qr", secret: text, via });
    return true;
  };

  const cameraButton = h("button.primary.big", {
    type: "button", "data-action": "scan-camera",
    onclick: async () => {
      if (stop) return stopCamera();
      message.hidden = true;
      try {
        video.hidden = false;
        cameraButton.textContent = t("field.scan.stop");
        stop = await startCamera(video, (text) => accept(text, "camera"));
      } catch (_) {
        stopCamera();
        say("field.scan.no_camera");
      }
    },
  }, `📷 ${t("field.scan.camera")}`);

  const file = h("input.visually-hidden", { type: "file", accept: "image/*", capture: "environment", "data-qr-file": "" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    file.value = "";
    if (!f) return;
    message.hidden = true;
    let text = null;
    try { text = await decodeFile(f); } catch (_) { text = null; }
    if (!text) return say("field.scan.unreadable");
    accept(text, "photo");
  });

  const code = h("input", { name: "code", inputmode: "text", autocapitalize: "characters", autocomplete: "off", placeholder: t("field.scan.code_placeholder"), "data-code-input": "" });
  const useCode = async () => {
    const cp = await matchCode(code.value, checkpoints);
    if (!cp) return say("field.scan.bad_code");
    message.hidden = true;
    onProof({ checkpoint: cp, proof: "code", secret: normaliseCode(code.value), via: "code" });
    toast(t("field.scan.code_ok"));
  };
  const el = h("div.proof-panel", {},
    cameraButton, video,
    h("label.button.big", {}, `🖼 ${t("field.scan.photo")}`, file),
    h("details", {}, h("summary", {}, t("field.scan.type_code")),
      h("div.inline", {}, code, h("button", { type: "button", "data-action": "use-code", onclick: useCode }, t("field.scan.use_code"))),
      h("p.muted.small", {}, t("field.scan.code_weaker"))),
    message);
  return { el, stop: stopCamera };
}
