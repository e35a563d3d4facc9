"""Field app first-load benchmark (not part of the test run): prints figures, asserts nothing it measures.

Against a live server with the demo data, in headless Chromium:

  - bytes: a guard's very first visit (login page, then the app, its service
    worker precaching everything the app needs offline) goes through a
    recording proxy; every response is counted as it came over the wire (the
    server gzips text itself) and, were it sent uncompressed, as gzip level 6
    would send it (images as they are). Issue 8's goal for the app: at most
    100 KiB compressed (issue 4 asked under 150 KiB).
  - time to a usable home screen with the CPU slowed down 4x (CDP
    Emulation.setCPUThrottlingRate): the first visit online (nothing cached),
    a second visit online (the service worker serves the app), and offline
    (after one online visit: context.set_offline(True), reload). "Usable" is
    the app's own signal: <html data-app="ready"> with the home route drawn,
    timed in the page from navigation start.

    uv run python scripts/bench_app.py [--repeat 3] [--throttle 4]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import re
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import Database, Figure, ServerProcess, emit, fresh_database, free_port, log, median  # noqa: E402

CHROMIUM = "/usr/lib/chromium/chromium"
# The flags tests/conftest.py gives Chromium (kept in step by hand: importing conftest sets up a test session).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
GOAL_APP_KIB = 100
ISSUE4_APP_KIB = 150
USERNAME, PASSWORD = "guard1", "xunjian-demo"
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}
APP_PREFIXES = ("/app", "/sw.js", "/manifest.webmanifest", "/static/app/", "/static/vendor/", "/static/icons/",
                "/static/sw-push.js")

# Marks the moment the home screen is usable, from navigation start (an init script runs whatever the CSP says).
HOME_MARK = """
(() => {
  const ready = () => {
    const view = document.getElementById('view');
    return document.documentElement.dataset.app === 'ready' && view && view.dataset.route === '/';
  };
  const observer = new MutationObserver(() => {
    if (!window.__homeAt && ready()) { window.__homeAt = performance.now(); observer.disconnect(); }
  });
  observer.observe(document, { subtree: true, attributes: true, childList: true });
})();
"""


@dataclass
class Fetch:
    method: str
    path: str
    status: int
    content_type: str
    sent: int  # body bytes as they came over the wire
    compressed: int  # the same, or what gzip -6 would send of a body that came uncompressed (not images)


class RecordingProxy:
    """A loopback proxy that forwards everything to the server and notes every response's size."""

    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fetches: list[Fetch] = []
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, self.path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read()
                conn.close()
                ctype = res.getheader("content-type") or ""
                encoded = bool(res.getheader("content-encoding"))
                squeezable = not encoded and not ctype.startswith("image/") and data
                compressed = len(gzip.compress(data, compresslevel=6)) if squeezable else len(data)
                with lock:
                    proxy.fetches.append(Fetch(self.command, self.path, res.status, ctype, len(data),
                                               min(compressed, len(data)) if data else 0))
                self.send_response(res.status)
                for name, value in res.getheaders():
                    if name.lower() not in HOP_HEADERS and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def new_context(browser: Any) -> Any:
    return browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 412, "height": 915})


def form_login(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app")


def wait_home(page: Any) -> None:
    page.wait_for_function("() => window.__homeAt", timeout=120_000)


def wait_offline_ready(page: Any) -> None:
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null",
                           timeout=120_000)


def first_visit_bytes(browser: Any, server: ServerProcess) -> list[Fetch]:
    """Everything a phone fetches on its first visit, through the recording proxy."""
    proxy = RecordingProxy(server.port)
    context = new_context(browser)
    try:
        page = context.new_page()
        page.add_init_script(HOME_MARK)
        form_login(page, proxy.url)
        wait_home(page)
        wait_offline_ready(page)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)  # extension modules and the first sync settle
        return list(proxy.fetches)
    finally:
        context.close()
        proxy.close()


def session_login(context: Any, base: str) -> None:
    """Log in the way the form does, without drawing the page (the timing starts at /app)."""
    html = context.request.get(f"{base}/login").text()
    token = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert token, "no CSRF token on the login page"
    response = context.request.post(f"{base}/login", form={
        "username": USERNAME, "password": PASSWORD, "_csrf_token": token.group(1)}, max_redirects=0)
    assert response.status == 303, response.text()[:300]


def home_times(browser: Any, base: str, throttle: float) -> dict[str, float]:
    """Milliseconds to a usable home screen: first visit, second visit, offline (one fresh phone)."""
    context = new_context(browser)
    try:
        session_login(context, base)
        page = context.new_page()
        page.add_init_script(HOME_MARK)
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        times = {}
        page.goto(f"{base}/app")
        wait_home(page)
        times["first visit online"] = page.evaluate("window.__homeAt")
        wait_offline_ready(page)
        page.wait_for_load_state("networkidle")
        for name, offline in (("second visit online", False), ("offline, after one visit", True)):
            context.set_offline(offline)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            page.reload()
            wait_home(page)
            times[name] = page.evaluate("window.__homeAt")
        return times
    finally:
        context.close()


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def measure(db: Database, repeat: int, throttle: float) -> list[Figure]:
    from playwright.sync_api import sync_playwright

    with ServerProcess(db, "app", demo=True) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            log("first visit through the recording proxy")
            fetches = first_visit_bytes(browser, server)
            samples: dict[str, list[float]] = {}
            for n in range(repeat):
                log(f"timing a fresh phone, CPU slowed {throttle:g}x ({n + 1}/{repeat})")
                for name, ms in home_times(browser, server.url, throttle).items():
                    samples.setdefault(name, []).append(ms)
        finally:
            browser.close()
    app = [f for f in fetches if f.path.split("?")[0].startswith(APP_PREFIXES)]
    data = [f for f in fetches if f.path.startswith(("/api/", "/sync/"))]
    login = [f for f in fetches if f not in app and f not in data]
    paths = [f.path for f in app]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    app_c = sum(f.compressed for f in app)
    raw = {"app": [f.__dict__ for f in app], "login": [f.__dict__ for f in login], "data": [f.__dict__ for f in data],
           "twice": twice, "times_ms": samples}
    figures = [
        Figure("field app", "Chromium", f"first load of the app: {len(app)} responses (shell, JS incl. htmx and "
                                        f"jsQR, CSS, icons, manifest, service worker)",
               f"{kib(app_c)} compressed ({kib(sum(f.sent for f in app))} over the wire)"
               + (f"; fetched twice: {', '.join(twice)}" if twice else ""),
               goal=f"<= {GOAL_APP_KIB} KiB (issue 4: < {ISSUE4_APP_KIB})", met=app_c <= GOAL_APP_KIB * 1024, raw=raw),
        Figure("field app", "Chromium", f"the rest of a first visit: login page ({len(login)} responses), "
                                        f"data ({len(data)} API/sync responses)",
               f"{kib(sum(f.compressed for f in login))} + {kib(sum(f.compressed for f in data))} compressed", raw=raw),
    ]
    for name, values in samples.items():
        figures.append(Figure("field app", f"Chromium, CPU /{throttle:g}",
                              f"usable home screen, {name} (median of {len(values)})",
                              f"{median(values):.0f} ms", raw={"samples_ms": values}))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="fresh phones timed (the median is kept)")
    parser.add_argument("--throttle", type=float, default=4.0, help="CPU slowdown factor")
    parser.add_argument("--json", action="store_true", help="result lines for scripts/bench.py")
    args = parser.parse_args()
    db = fresh_database()
    try:
        figures = measure(db, args.repeat, args.throttle)
        if not args.json:
            for f in figures[0].raw["app"] + figures[0].raw["login"]:
                print(f"  {f['compressed']:>8,} B compressed {f['sent']:>8,} B wire  {f['method']} {f['path']}")
        emit(figures, args.json)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
