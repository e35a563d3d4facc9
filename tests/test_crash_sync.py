"""Crash safety: the server killed with SIGKILL while phones push and upload photos, twice,
restarted on the same data directory and database; the phones retry until their
outboxes are empty, and then every record is on the server exactly once and every
photo is whole. Runs on SQLite, and on PostgreSQL when XUNJIAN_TEST_PG is set.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from PIL import Image

from conftest import LiveServer
from live_support import FieldWorker, live_rows, photo_files

pytestmark = pytest.mark.slow

PHONES = ("guard1", "cleaner1", "gardener1", "tech1")
ROUNDS = 6
KILL_AT = (0.25, 0.6)  # share of the shift's answers heard when each SIGKILL lands


@pytest.fixture
def server() -> Iterator[LiveServer]:
    live = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-crash-"))).start()
    yield live
    live.stop()
    shutil.rmtree(live.data_dir, ignore_errors=True)


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001 - any decoding failure means a broken file
        return False


def exactly_once(made: list[str], stored: list[str]) -> list[str]:
    """What is missing or doubled among `made` in the server's column `stored`."""
    counts = Counter(stored)
    return [f"{i} x{counts[i]}" for i in made if counts[i] != 1]


def test_sigkill_during_pushes_and_uploads_loses_and_doubles_nothing(server: LiveServer) -> None:
    workers = [FieldWorker([server.url], name, ROUNDS, seed=n + 1, deadline=time.time() + 600)
               for n, name in enumerate(PHONES)]
    for w in workers:
        w.start()
    wait_for(lambda: all(w.planned or w.done.is_set() for w in workers), 300, "the phones to log in and pull")
    expected = sum(w.planned for w in workers)
    kills = []
    for share in KILL_AT:
        wait_for(lambda share=share: sum(w.acknowledged for w in workers) >= share * expected
                 or all(w.done.is_set() for w in workers),
                 300, f"{share:.0%} of the answers")
        heard = sum(w.acknowledged for w in workers)
        assert server.proc is not None
        server.proc.kill()  # SIGKILL: no shutdown, no flush, transactions cut where they stand
        server.proc.wait()
        kills.append(heard)
        server.start()
    for w in workers:
        w.join(600)
        assert w.done.is_set() and w.error is None, (w.username, w.error, w.failures[-5:])
    assert all(0 < heard < expected for heard in kills), f"a kill missed the shift: {kills} of {expected}"
    assert sum(len(w.failures) for w in workers) > 0, "no phone ever noticed the server going away"

    made = {key: [i for w in workers for i in w.made[key]] for key in ("ops", "rounds", "visits", "findings", "comments")}
    assert len(made["ops"]) == expected and len(set(made["ops"])) == expected
    ops = live_rows(server, "SELECT op_id, status FROM sync_op")
    assert exactly_once(made["ops"], [r["op_id"] for r in ops]) == []
    status = {r["op_id"]: r["status"] for r in ops}
    assert {status[i] for i in made["ops"]} == {"applied"}
    for w in workers:  # each phone heard, for every op, that it was recorded (now or before)
        assert w.phone is not None
        for op_id in w.made["ops"]:
            answer = w.phone.results[op_id]
            assert answer["status"] == "applied" or answer.get("original_status") == "applied", answer

    assert exactly_once(made["rounds"], [r["id"] for r in live_rows(server, "SELECT id FROM inspection_round")]) == []
    assert exactly_once(made["visits"], [r["id"] for r in live_rows(server, "SELECT id FROM visit")]) == []
    assert exactly_once(made["findings"], [r["id"] for r in live_rows(server, "SELECT id FROM finding")]) == []
    assert exactly_once(made["findings"], [r["id"] for r in live_rows(server, "SELECT id FROM rectification")]) == []
    assert exactly_once(made["comments"], [r["op_id"] for r in live_rows(
        server, "SELECT op_id FROM rect_transition WHERE op_id IS NOT NULL")]) == []
    answers = live_rows(server, "SELECT visit FROM check_answer")
    visits = set(made["visits"])
    assert sum(1 for a in answers if a["visit"] in visits) == sum(w.answers_expected for w in workers)
    finished = live_rows(server, "SELECT id, state FROM inspection_round")
    assert {r["state"] for r in finished if r["id"] in set(made["rounds"])} == {"finished"}

    shas = [s for w in workers for s in w.photos]
    stored = live_rows(server, "SELECT sha256 FROM photo")
    assert exactly_once(shas, [r["sha256"] for r in stored]) == []
    incomplete = live_rows(server, "SELECT id, photos_missing FROM rectification WHERE photos_missing > 0")
    assert not [r for r in incomplete if r["id"] in set(made["findings"])], "records still wait for photos"
    copies, leftovers = photo_files(server.data_dir)
    # Files are written under a temporary name and renamed: whatever has a photo's name is whole.
    assert len(copies) == 2 * len(stored), (len(copies), len(stored))
    broken = [f.name for f in copies if not decodes(f.read_bytes())]
    assert broken == []
    assert {f.name.split(".")[0] for f in copies} == {r["sha256"] for r in stored}
    print(f"\nkills after {kills} of {expected} answers; {sum(len(w.failures) for w in workers)} failed requests "
          f"retried; {len(leftovers)} temporary files left by a cut write")

    # And the phones see their photos served.
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for w in workers:
            assert w.phone is not None
            for sha in w.photos:
                response = http.get(f"/photos/{sha}", params={"size": "thumb"}, headers=w.phone.headers())
                assert response.status_code == 200 and decodes(response.content), (w.username, sha)
