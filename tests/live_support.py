"""Helpers for tests that run real server processes and break them: a window into a live
server's database (SQLite file or PostgreSQL), distinct phone photos, and field phones
that work a shift on their own thread and keep retrying while the server is away.
"""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from conftest import ON_POSTGRES, LiveServer
from phone import Phone


def live_rows(server: LiveServer, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query on a live server's own database; `?` marks parameters; ids come back as text."""
    if ON_POSTGRES:
        import asyncpg

        for n in range(len(args)):
            sql = sql.replace("?", f"${n + 1}", 1)

        async def go() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(server.env["DATABASE_URL"])
            try:
                return [dict(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        rows = asyncio.run(go())
    else:
        with sqlite3.connect(server.data_dir / "xunjian.sqlite3", timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            rows = [dict(r) for r in conn.execute(sql, args).fetchall()]
    return [{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()} for row in rows]


def live_ids(server: LiveServer, table: str, column: str = "id") -> list[str]:
    """Every value of a column (with repeats, so a doubled row shows)."""
    return [r[column] for r in live_rows(server, f'SELECT "{column}" FROM "{table}"')]


_GRAIN: Any = None


def distinct_jpeg(seed: int, size: tuple[int, int] = (1200, 900)) -> bytes:
    """A real JPEG of a phone-sized photo whose picture (and perceptual hash) is its own."""
    global _GRAIN
    from PIL import Image

    if _GRAIN is None or _GRAIN.size != size:
        _GRAIN = Image.effect_noise(size, 40).convert("RGB")
    rng = random.Random(seed)
    small = Image.new("RGB", (120, 90), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(25):
        x, y = rng.randrange(120), rng.randrange(90)
        small.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + rng.randrange(5, 40), y + rng.randrange(5, 40)))
    image = Image.blend(small.resize(size, Image.Resampling.BICUBIC), _GRAIN, 0.2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


class FieldWorker(threading.Thread):
    """A phone working a shift on its own thread: after each round it syncs, and it keeps
    retrying (whatever fails: refused connections, cut responses) until its outbox and
    photo store are empty. What it made is kept, to be found on the server exactly once.
    """

    def __init__(self, base_urls: list[str], username: str, rounds: int, seed: int, deadline: float) -> None:
        super().__init__(daemon=True, name=f"phone-{username}")
        self.base_urls = base_urls  # several servers: each request round-robins over them
        self.username = username
        self.rounds = rounds
        self.seed = seed
        self.deadline = deadline
        self.made: dict[str, list[str]] = {"rounds": [], "visits": [], "findings": [], "comments": [], "ops": []}
        self.answers_expected = 0  # check answers in all visits
        self.planned = 0  # ops the whole shift will make, known once the phone has pulled its templates
        self.photos: list[str] = []
        self.failures: list[str] = []
        self.phone: Phone | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    @property
    def acknowledged(self) -> int:
        return len(self.phone.results) if self.phone else 0

    def retry(self, action: Any) -> Any:
        """Do `action` until it works, as the app does when the server is away."""
        while True:
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - any failure is retried until the deadline
                self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                if time.time() > self.deadline:
                    raise
                time.sleep(0.3)

    def sync(self, phone: Phone) -> None:
        def once() -> None:
            phone.upload_photos()
            phone.push()
            if phone.outbox or phone.photos:
                raise RuntimeError(f"{len(phone.outbox)} ops and {len(phone.photos)} photos still waiting")

        self.retry(once)

    def run(self) -> None:
        try:
            with RoundRobin(self.base_urls) as http:
                self.phone = phone = Phone(http, self.username, retries=1)
                self.retry(phone.login)
                body = self.retry(phone.pull)
                self.work(phone, body)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            self.error = exc
        finally:
            self.done.set()

    def work(self, phone: Phone, body: dict[str, Any]) -> None:
        site_id = phone.user["site_ids"][0]
        mine = [t for t in body["templates"] if t["role"] == phone.user["role"] and t["items"]]
        template = mine[0] if mine else None
        # A round: start, up to three visits, a finding and a comment on it, finish (no template: the two).
        self.planned = self.rounds * ((2 + min(3, len(template["items"]))) if template else 0) + self.rounds * 2
        for n in range(self.rounds):
            visit_id = None
            if template:
                round_id = phone.start_round(template["id"])
                self.made["rounds"].append(round_id)
                for item in template["items"][:3]:
                    answers = [{"check_id": c["id"], "ok": True} for c in item["checks"]]
                    visit_id = phone.visit(round_id, item["checkpoint_id"], proof="none", answers=answers)
                    self.made["visits"].append(visit_id)
                    self.answers_expected += len(answers)
            sha = phone.add_photo(distinct_jpeg(self.seed * 1000 + n))
            self.photos.append(sha)
            extra = {"visit_id": visit_id} if visit_id else {}
            finding = phone.report(site_id, "garbage", note=f"{self.username} 第{n}次", photos=[sha], **extra)
            self.made["findings"].append(finding)
            self.made["comments"].append(phone.transition(finding, "comment", note="已通知保洁")["op_id"])
            if template:
                phone.finish_round(round_id)
            self.made["ops"] += [op["op_id"] for op in phone.outbox]  # empty before the round: sync drained it
            self.sync(phone)


class RoundRobin:
    """An httpx-style client that sends each request to the next of several servers (a loopback balancer)."""

    def __init__(self, base_urls: list[str]) -> None:
        self.clients = [httpx.Client(base_url=u, timeout=60) for u in base_urls]
        self.turn = 0

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = self.clients[self.turn % len(self.clients)]
        self.turn += 1
        return client.request(method, path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def __enter__(self) -> "RoundRobin":
        return self

    def __exit__(self, *exc: Any) -> None:
        for client in self.clients:
            client.close()


def photo_files(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """Stored photo copies, and temporary files a write in progress left behind."""
    root = data_dir / "photos"
    files = sorted(root.rglob("*.jpg")) if root.exists() else []
    return [f for f in files if not f.name.startswith(".tmp-")], [f for f in files if f.name.startswith(".tmp-")]
