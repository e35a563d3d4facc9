"""Helpers for the field app's browser tests: a loopback proxy that can misbehave
on cue, a window into a live server's database, real QR posters and real
multi-megabyte JPEGs, and the few gestures a person makes in the app.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, LiveServer, free_port

# accept-encoding too: the proxy reads and rewrites bodies, so it asks the server for them uncompressed.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer",
               "accept-encoding"}
TIMEZONE = "Asia/Shanghai"  # the demo site's; the app shows its windows in it


class LoopbackProxy:
    """A small HTTP proxy in front of a live server (the browser talks to it).

    Knobs the tests turn: fail the next photo upload halfway with a 500, answer
    pushes with 503 (a server that is down), rewrite /sw.js as a new version.
    Every request is logged as (method, path, status).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[tuple[str, str, int]] = []
        self.fail_next_photo_put = False
        self.push_down = False
        self.sw_suffix = ""
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]], close: bool = False) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_HEADERS and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                path = self.path
                if self.command == "PUT" and path.startswith("/sync/photos/") and proxy._take_photo_failure():
                    # Half the upload arrives, then the server "fails": the upstream never sees it.
                    length = int(self.headers.get("content-length") or 0)
                    self.rfile.read(length // 2)
                    self.rfile.read(length - length // 2)
                    proxy._record(self.command, path, 500)
                    self._answer(500, b'{"code":"internal","reason":"injected failure"}',
                                 [("Content-Type", "application/json")], close=True)
                    return
                if self.command == "POST" and path.startswith("/sync/push") and proxy.push_down:
                    self._body()
                    proxy._record(self.command, path, 503)
                    self._answer(503, b'{"code":"unavailable","reason":"down"}', [("Content-Type", "application/json")])
                    return
                body = self._body()
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, path, body=body or None, headers=headers)
                res = conn.getresponse()
                data = res.read()
                conn.close()
                if path.split("?")[0] == "/sw.js" and proxy.sw_suffix and res.status == 200:
                    # A new deployment: another version string, hence another cache.
                    text = data.decode()
                    text = text.replace('"version": "', f'"version": "{proxy.sw_suffix}-', 1)
                    data = text.encode()
                proxy._record(self.command, path, res.status)
                self._answer(res.status, data, res.getheaders())

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A browser dropping a kept-alive connection is not a failure.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take_photo_failure(self) -> bool:
        with self.lock:
            if self.fail_next_photo_put:
                self.fail_next_photo_put = False
                return True
            return False

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append((method, path, status))

    def requests(self, method: str, prefix: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [r for r in self.log if r[0] == method and r[1].startswith(prefix)]

    def start(self) -> "LoopbackProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def server_query(live: LiveServer, code: str) -> Any:
    """Run `code` (an async body that sets `result`) against the live server's own database.

    It runs in a separate Python with the live server's environment, through the
    server's Piccolo tables and services, so it works on SQLite and PostgreSQL alike.
    """
    script = "import asyncio, json\n" \
             "async def main():\n" \
             "    result = None\n" + textwrap.indent(textwrap.dedent(code), "    ") + "\n" \
             "    return result\n" \
             "print('@@' + json.dumps(asyncio.run(main()), default=str))\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=live.env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("@@"))
    return json.loads(line[2:])


def qr_png(text: str, path: Path) -> Path:
    """A real QR code image of a poster's secret, as a phone photo of it would show."""
    import segno

    # make_qr, as the admin posters do: segno.make would pick a Micro QR for short text.
    segno.make_qr(text, error="m").save(str(path), scale=10, border=4)
    return path


def big_jpeg(path: Path, seed: int, size: tuple[int, int] = (4000, 3000)) -> Path:
    """A real 12-megapixel JPEG of several MB (noise over coloured blocks, like a busy phone photo)."""
    from PIL import Image

    if path.exists():
        return path
    rng = random.Random(seed)
    w, h = size
    base = Image.new("RGB", (w // 8, h // 8), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(40):
        x, y = rng.randrange(w // 8), rng.randrange(h // 8)
        base.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 150)))
    image = base.resize(size, Image.BILINEAR)
    noise = Image.effect_noise(size, 48).convert("RGB")
    image = Image.blend(image, noise, 0.35)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=93)
    path.write_bytes(buf.getvalue())
    return path


def watch(page: Any) -> Any:
    """Print the page's console and errors (pytest shows them when a test fails)."""
    page.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: print(f"pageerror: {e}"))
    return page


def persistent_context(playwright: Any, profile: Path, **extra: Any) -> Any:
    """A browser with a profile on disk: closing it and opening it again is a phone restart."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, locale="zh-CN",
        timezone_id=TIMEZONE, viewport={"width": 412, "height": 915}, **extra)
    for page in context.pages:
        watch(page)
    context.on("page", watch)
    return context


# ---- gestures in the app -------------------------------------------------------------------------

APP_READY = "html[data-app=ready]"


def wait_app(page: Any) -> None:
    page.wait_for_selector(APP_READY, timeout=30_000)


def login_form(page: Any, base: str, username: str, password: str = "xunjian-demo") -> None:
    """Log in through the server's login page; field staff land in the app."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/app")
    wait_app(page)


def wait_synced(page: Any, timeout: float = 60_000) -> None:
    """Until the outbox is empty, no photo waits, and a sync has succeeded."""
    page.wait_for_function(
        """() => { const s = document.querySelector('.sync-status');
                   return s && s.dataset.outbox === '0' && s.dataset.photos === '0' && s.dataset.lastSync
                          && s.dataset.sync !== 'running'; }""", timeout=timeout)


def wait_offline_ready(page: Any) -> None:
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=30_000)


def outbox_size(page: Any) -> int:
    return int(page.get_attribute(".sync-status", "data-outbox") or "0")


def expect_outbox(page: Any, count: int, timeout: float = 10_000) -> None:
    """The top bar shows `count` ops waiting (it is redrawn a moment after each screen)."""
    try:
        page.wait_for_function(f"() => document.querySelector('.sync-status').dataset.outbox === '{count}'", timeout=timeout)
    except Exception:
        raise AssertionError(f"outbox shows {outbox_size(page)}, expected {count}") from None


def go(page: Any, hash_: str) -> None:
    page.evaluate(f"location.hash = {json.dumps(hash_)}")
    page.wait_for_function(f"() => document.getElementById('view').dataset.route === {json.dumps(hash_.lstrip('#').split('?')[0])}")


def add_photos(page: Any, selector: str, files: list[Path], expected: int) -> None:
    """Give the camera input real files and wait until they are resized, hashed and stored."""
    page.set_input_files(selector, [str(f) for f in files])
    page.wait_for_function(
        f"""() => {{ const w = document.querySelector({json.dumps(selector)}).closest('.photo-picker');
                    return w.dataset.busy === '0' && Number(w.dataset.count) === {expected}; }}""", timeout=60_000)


def scan_poster(page: Any, png: Path) -> None:
    """Point the scanner at a poster: the app decodes the image itself (jsQR or BarcodeDetector)."""
    page.set_input_files("[data-qr-file]", str(png))



def report_finding(page: Any, photos: list[Path], category: str = "hazard", note: str = "") -> None:
    """Report a finding from the tab bar (not from a round) and wait for the home screen."""
    go(page, "#/finding")
    page.click(f"[data-category={category}]")
    add_photos(page, "[data-photo-input=finding]", photos, expected=len(photos))
    if note:
        page.fill("textarea[name=note]", note)
    page.click("[data-action=save-finding]")
    page.wait_for_function("() => location.hash === '#/' && document.getElementById('view').dataset.route === '/'")


def small_jpeg(path: Path, seed: int) -> Path:
    return big_jpeg(path, seed, size=(1200, 900))


def record_ids(page: Any, kind: str) -> list[str]:
    """Ids of the person's own records of a kind, from the phone's IndexedDB (newest first)."""
    return page.evaluate("""async (kind) => {
        const db = await new Promise((ok, no) => { const r = indexedDB.open('xunjian'); r.onsuccess = () => ok(r.result); r.onerror = no; });
        const rows = await new Promise((ok) => { const q = db.transaction('records').objectStore('records').index('kind').getAll(kind); q.onsuccess = () => ok(q.result); });
        db.close();
        return rows.sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).map((r) => r.id);
    }""", kind)


def worker_version(page: Any) -> str | None:
    return page.evaluate("""() => new Promise((resolve) => {
        const sw = navigator.serviceWorker.controller;
        if (!sw) return resolve(null);
        const ch = new MessageChannel();
        ch.port1.onmessage = (e) => resolve(e.data.version);
        sw.postMessage({ type: 'version' }, [ch.port2]);
        setTimeout(() => resolve(null), 2000);
    })""")


def y4m_video(png: Path, path: Path, frames: int = 10) -> Path:
    """A short Y4M clip of a still picture: Chromium's fake camera plays it (--use-file-for-fake-video-capture)."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    w, h = (image.width // 2) * 2 + 160, (image.height // 2) * 2 + 120
    canvas = Image.new("RGB", (w, h), (200, 200, 190))  # the poster on a wall, not filling the frame
    canvas.paste(image, ((w - image.width) // 2, (h - image.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    chroma = [c.resize((w // 2, h // 2)) for c in (cb, cr)]
    frame = b"FRAME\n" + y.tobytes() + chroma[0].tobytes() + chroma[1].tobytes()
    path.write_bytes(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path
