"""The server's VAPID key pair: made on first run and kept in the data directory, or given by settings."""

from __future__ import annotations

import base64
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from server.settings import get_settings

KEY_FILE = "vapid_private.pem"


def key_path() -> Path:
    return get_settings().data_path / KEY_FILE


def _make_key_file(path: Path) -> None:
    """Write a new private key without ever leaving a half-written file where another process reads it.

    The key is written to a temporary file and hard-linked into place: the link
    fails if another process won the race, and then its key is the one used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid02()
    vapid.generate_keys()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(vapid.private_pem())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


@lru_cache(maxsize=1)
def server_key() -> Vapid02:
    """The VAPID signing key: settings.vapid_private_key (a PEM file or base64url text), else DATA_DIR's file."""
    configured = get_settings().vapid_private_key.strip()
    if configured:
        if os.path.isfile(configured):
            return Vapid02.from_file(configured)
        if "-----BEGIN" in configured:
            return Vapid02.from_pem(configured.encode())
        return Vapid02.from_string(configured)
    path = key_path()
    if not path.exists():
        _make_key_file(path)
    return Vapid02.from_file(str(path))


def public_key() -> str:
    """The public key as the browser's PushManager.subscribe wants it (applicationServerKey, base64url)."""
    raw = server_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint,
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
