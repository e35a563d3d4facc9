"""Loopback stand-ins for the outside services notifications talk to, and a real push subscriber.

`Loopback` is a threaded http.server on 127.0.0.1 that records every request
and answers from a per-path script of statuses (the push service, the WeCom
robot). `Subscriber` is what a browser is to a push service: a real P-256 key
pair and auth secret, and the means to decrypt what it receives (RFC 8291).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """Answers POSTs with the next status scripted for the path (default 201), recording each request."""

    default_status: int = 201
    default_body: bytes = b""
    delay: float = 0.0  # seconds before answering (a slow push service)
    scripts: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                with loopback._lock:
                    loopback.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    script = loopback.scripts.get(path)
                    status, answer = script.pop(0) if script else (loopback.default_status, loopback.default_body)
                if loopback.delay:
                    time.sleep(loopback.delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def script(self, path: str, *answers: int | tuple[int, bytes]) -> None:
        self.scripts[path] = [a if isinstance(a, tuple) else (a, b"") for a in answers]

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.split("?", 1)[0] == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10) -> list[Received]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.requests_to(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path} got {len(self.requests_to(path))} requests, expected {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Subscriber:
    """A browser's side of a push subscription: keys made here, payloads decrypted here."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def as_json(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives the page."""
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}

    def decrypt(self, received: Received) -> dict[str, Any]:
        assert received.headers.get("content-encoding") == "aes128gcm"
        plain = http_ece.decrypt(received.body, private_key=self.private_key, auth_secret=self.auth,
                                 version="aes128gcm")
        return json.loads(plain)


def vapid_claims(authorization: str, server_public_key: str) -> dict[str, Any]:
    """Check a `vapid t=…,k=…` header (RFC 8292) as a push service does; returns the JWT's claims.

    The key must be the server's, the JWT's algorithm ES256, and its signature
    must verify against that key.
    """
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == server_public_key
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256"
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AssertionError("VAPID signature does not verify") from exc
    return json.loads(unb64url(claims_b64))
