/* Loaded first by the shell (a file, not inline: the CSP allows no inline script).
   On the very first visit the app's files are loaded only once the service
   worker controls the page, so they travel once (into its cache) instead of
   twice; afterwards they always come from the cache, online or not. */
(function () {
  var started = false;
  function start() {
    if (started) return;
    started = true;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/static/app/field.css";
    document.head.appendChild(css);
    var main = document.createElement("script");
    main.type = "module";
    main.src = "/static/app/main.js";
    document.head.appendChild(main);
    var htmx = document.createElement("script");
    htmx.src = "/static/vendor/htmx-2.0.11.min.js";
    htmx.defer = true;
    document.head.appendChild(htmx);
  }
  var sw = navigator.serviceWorker;
  if (!sw || sw.controller) return start();
  sw.addEventListener("controllerchange", start);
  sw.register("/sw.js", { scope: "/" }).then(function (reg) {
    var w = reg.installing || reg.waiting;
    if (!w) return start();  /* active but not controlling (a forced reload): use the network */
    w.addEventListener("statechange", function () { if (w.state === "redundant") start(); });
  }).catch(start);
  setTimeout(start, 20000);
})();
