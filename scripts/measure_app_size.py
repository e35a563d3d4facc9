"""Measure what a phone downloads on its first visit to the field app.

Starts the server with the demo data in a temporary directory, logs in as
guard1 in a real Chromium (Playwright, Debian's /usr/lib/chromium/chromium),
waits until the service worker controls the app and the first sync is done,
times a few offline reloads (to the first screen, from the worker's cache),
and prints every response that came over the network with its raw and gzip
size (what a server or proxy with gzip on transfers). The app's own files are
totalled apart from the data calls (device login, pull), which depend on the site.

Usage: uv run python scripts/measure_app_size.py [--budget-kib 150]
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/lib/chromium/chromium"
DATA_PREFIXES = ("/api/", "/sync/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XUNJIAN_DATA_DIR": data_dir, "XUNJIAN_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "XUNJIAN_SCHEDULER_SECONDS": "0"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--demo", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not start")


def first_visit(base: str) -> list[tuple[str, str, int]]:
    """(method, path, status) of every response that came over the network, in order."""
    from playwright.sync_api import sync_playwright

    seen: list[tuple[str, str, int]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        context = browser.new_context(locale="zh-CN", viewport={"width": 412, "height": 915})
        context.on("response", lambda r: None if r.from_service_worker else seen.append(
            (r.request.method, r.url.replace(base, ""), r.status)))
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "guard1")
        page.fill("input[name=password]", "xunjian-demo")
        page.click("button[type=submit]")
        page.wait_for_url("**/app")
        page.wait_for_selector("html[data-app=ready]", timeout=60_000)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
        page.wait_for_function("() => document.querySelector('.sync-status').dataset.lastSync", timeout=60_000)
        page.wait_for_timeout(1500)  # late requests (manifest icons, extension modules)
        context.set_offline(True)
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            page.reload()
            page.wait_for_selector("html[data-app=ready]", timeout=60_000)
            timings.append((time.perf_counter() - start) * 1000)
        browser.close()
    print(f"offline open (reload to first screen, from the worker's cache): "
          f"{', '.join(f'{t:.0f}' for t in timings)} ms")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-kib", type=float, default=150.0)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="xunjian-measure-") as data_dir:
        server = start_server(port, data_dir)
        try:
            responses = first_visit(base)
            rows = []
            for method, path, status in responses:
                if method != "GET" or status != 200 or path.startswith(DATA_PREFIXES):
                    rows.append((path, method, status, None, None))
                    continue
                body = urllib.request.urlopen(base + path, timeout=10).read()
                rows.append((path, method, status, len(body), len(gzip.compress(body, compresslevel=6))))
        finally:
            server.terminate()
            server.wait(10)
    app_raw = sum(r[3] for r in rows if r[3] is not None)
    app_gz = sum(r[4] for r in rows if r[4] is not None)
    print(f"{'request':<48} {'status':>6} {'bytes':>9} {'gzip':>8}")
    for path, method, status, raw, gz in rows:
        name = path if method == "GET" else f"{method} {path}"
        print(f"{name[:48]:<48} {status:>6} {raw if raw is not None else '(data)':>9} {gz if gz is not None else '':>8}")
    print(f"\n{len([r for r in rows if r[3] is not None])} app files fetched, {app_raw / 1024:.1f} KiB raw, "
          f"{app_gz / 1024:.1f} KiB gzip (budget {args.budget_kib:.0f} KiB): {'OK' if app_gz <= args.budget_kib * 1024 else 'OVER BUDGET'}")
    sys.exit(0 if app_gz <= args.budget_kib * 1024 else 1)


if __name__ == "__main__":
    main()
