"""The photo store: re-encoded copies on disk, sharded by the first two hex digits of the SHA-256.

Files are written to a temporary name in the same directory, flushed, then
renamed over the final name: a crash leaves either the whole file or none,
never half a photo. Copies are written before the database row, so a row
always has its files; a crash in between leaves files a re-upload overwrites.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from server.settings import get_settings

SIZES = ("full", "thumb")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return bool(SHA256_RE.match(value))


def photo_path(sha256: str, size: str, root: Path | None = None) -> Path:
    """Where the `size` copy of a photo lives (the name is checked: it comes from a URL)."""
    if not is_sha256(sha256) or size not in SIZES:
        raise ValueError("not a photo name")
    root = root or get_settings().photo_dir
    return root / sha256[:2] / f"{sha256}.{size}.jpg"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync_dir(path: Path) -> None:
    """Make the renames themselves durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_copies(sha256: str, full: bytes, thumb: bytes, root: Path | None = None) -> None:
    """Store both served copies of a photo (blocking IO: run it in a worker thread)."""
    full_path = photo_path(sha256, "full", root)
    _write_atomically(photo_path(sha256, "thumb", root), thumb)
    _write_atomically(full_path, full)
    _sync_dir(full_path.parent)


def read_copy(sha256: str, size: str, root: Path | None = None) -> bytes | None:
    """The bytes of a stored copy, or None when the file is not there (blocking IO)."""
    try:
        return photo_path(sha256, size, root).read_bytes()
    except FileNotFoundError:
        return None
