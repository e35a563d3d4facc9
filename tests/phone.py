"""A small phone that speaks shared/SYNC.md: outbox, photo store, push, pull, retries.

It drives any httpx-style client (Litestar's TestClient in process, or
httpx.Client against a live server). It can be told to lose responses (the
server applied the push, the phone never heard) and to run its clock off, so the
tests, load and crash tests can play a bad network and a bad device.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

DEMO_PASSWORD = "xunjian-demo"


def uuid7() -> str:
    """A time-ordered UUID as the phone makes it."""
    ms = time.time_ns() // 1_000_000
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (random.getrandbits(12) << 64) | 0b10 << 62
    return str(uuid.UUID(int=value | random.getrandbits(62)))


class LostResponse(Exception):
    """The request reached the server but the phone never heard the answer."""


@dataclass
class Phone:
    http: Any  # httpx.Client or litestar TestClient
    username: str
    password: str = DEMO_PASSWORD
    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock_offset: timedelta = timedelta(0)  # how far this phone's clock is off
    drop_rate: float = 0.0  # share of push responses lost after the server handled them
    batch_size: int = 500
    retries: int = 3
    rng: random.Random = field(default_factory=random.Random)
    token: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    photos: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes not yet confirmed
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # op_id -> the answer heard
    cursor: str = ""
    store: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # list name -> id -> row
    due: list[dict[str, Any]] = field(default_factory=list)
    pulls: int = 0

    # --- time and identity ------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.clock_offset

    def stamp(self) -> str:
        return self.now().isoformat()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def login(self) -> "Phone":
        response = self.http.post("/api/auth/device", json={
            "username": self.username, "password": self.password, "device_id": self.device_id,
            "device_name": f"phone of {self.username}"})
        assert response.status_code == 200, response.text
        body = response.json()
        self.token, self.user = body["token"], body["user"]
        return self

    # --- the outbox: what the person did offline --------------------------------------------------

    def enqueue(self, op_type: str, data: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        op = {"op_id": uuid7(), "type": op_type, "at": (at or self.now()).isoformat(), "data": data}
        self.outbox.append(op)
        return op

    def add_photo(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        self.photos[sha] = content
        return sha

    def start_round(self, template_id: str) -> str:
        round_id = uuid7()
        self.enqueue("round.start", {"round_id": round_id, "template_id": template_id, "started_at": self.stamp()})
        return round_id

    def visit(self, round_id: str, checkpoint_id: str, *, proof: str = "qr", secret: str | None = None,
              answers: list[dict[str, Any]] | None = None, photos: list[str] | None = None, **extra: Any) -> str:
        visit_id = uuid7()
        data = {"visit_id": visit_id, "round_id": round_id, "checkpoint_id": checkpoint_id, "proof": proof,
                "scanned_at": self.stamp(), "answers": answers or [], "photos": photos or [], **extra}
        if secret is not None:
            data["secret"] = secret
        self.enqueue("visit.record", data)
        return visit_id

    def finish_round(self, round_id: str) -> dict[str, Any]:
        return self.enqueue("round.finish", {"round_id": round_id, "finished_at": self.stamp()})

    def report(self, site_id: str, category: str, severity: str = "normal", **extra: Any) -> str:
        finding_id = uuid7()
        self.enqueue("finding.report", {"finding_id": finding_id, "site_id": site_id, "category": category,
                                        "severity": severity, **extra})
        return finding_id

    def transition(self, rect_id: str, action: str, **extra: Any) -> dict[str, Any]:
        return self.enqueue("rect.transition", {"rect_id": rect_id, "action": action, **extra})

    # --- network -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request with retries on network errors and 5xx (back-off, never dropping anything)."""
        delay = 0.05
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except Exception:  # noqa: BLE001 - any transport failure is retried like a bad network
                if attempt == self.retries:
                    raise
            else:
                if response.status_code < 500 or attempt == self.retries:
                    return response
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def upload_photos(self) -> list[str]:
        """HEAD then PUT each stored photo; a blob is dropped only once the server confirms it."""
        confirmed = []
        for sha, content in list(self.photos.items()):
            if self._request("HEAD", f"/sync/photos/{sha}").status_code != 200:
                response = self._request("PUT", f"/sync/photos/{sha}", content=content,
                                         headers={"Content-Type": "image/jpeg"})
                if response.status_code not in (200, 201):
                    continue
            del self.photos[sha]
            confirmed.append(sha)
        return confirmed

    def push_batch(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Push some ops; raises LostResponse when this phone is set to lose the answer."""
        response = self._request("POST", "/sync/push", json={
            "device_id": self.device_id, "device_time": self.stamp(), "ops": ops})
        assert response.status_code == 200, response.text
        if self.drop_rate and self.rng.random() < self.drop_rate:
            raise LostResponse()
        results = response.json()["results"]
        for result in results:
            if result["op_id"]:
                self.results[result["op_id"]] = result
        # Answers come in the order of `ops` and every status means "drop it" (rejected ones
        # are shown under "needs attention"), so everything sent and answered leaves the outbox.
        assert len(results) == len(ops)
        answered = {id(op) for op in ops} | {op["op_id"] for op in ops if isinstance(op, dict)}
        self.outbox = [op for op in self.outbox
                       if id(op) not in answered and not (isinstance(op, dict) and op.get("op_id") in answered)]
        return results

    def push(self, shuffle: bool = False, resend: int = 0) -> list[dict[str, Any]]:
        """Push the whole outbox in batches; optionally out of order and with some ops sent twice."""
        answers: list[dict[str, Any]] = []
        pending = list(self.outbox)
        if resend:
            pending += self.rng.sample(pending, min(resend, len(pending)))
        if shuffle:
            self.rng.shuffle(pending)
        for start in range(0, len(pending), self.batch_size):
            try:
                answers += self.push_batch(pending[start:start + self.batch_size])
            except LostResponse:
                continue  # the ops stay in the outbox and go again next time
        return answers

    def pull(self, full: bool = False) -> dict[str, Any]:
        """Pull and merge into the local store (by id), applying `deleted`."""
        params = {} if full or not self.cursor else {"since": self.cursor}
        response = self._request("GET", "/sync/pull", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["full"]:
            self.store = {}
        for name in ("sites", "zones", "checkpoints", "templates", "rectifications", "staff", "notifications"):
            table = self.store.setdefault(name, {})
            for row in body[name]:
                table[row["id"]] = row
        kinds = {"site": "sites", "zone": "zones", "checkpoint": "checkpoints", "template": "templates",
                 "staff": "staff", "rectification": "rectifications", "notification": "notifications"}
        for gone in body["deleted"]:
            self.store.get(kinds.get(gone["type"], gone["type"]), {}).pop(gone["id"], None)
        self.cursor, self.due = body["cursor"], body["due"]
        self.pulls += 1
        return body

    def sync(self, **push_options: Any) -> dict[str, Any]:
        """What the app does when the network is back: photos, the outbox, then a pull."""
        self.upload_photos()
        self.push(**push_options)
        return self.pull()
