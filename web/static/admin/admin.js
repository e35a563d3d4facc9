// Administration pages: a confirmation before actions that cannot be quietly undone
// (retire, deactivate, new poster, level change), and the print button of the poster page.
// A file of its own because the content security policy forbids inline scripts.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-confirm], [data-print]") : null;
  if (!target) return;
  if (target.hasAttribute("data-print")) {
    event.preventDefault();
    window.print();
    return;
  }
  if (!window.confirm(target.getAttribute("data-confirm"))) event.preventDefault();
});
