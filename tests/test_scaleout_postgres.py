"""Scale-out: two server processes on one PostgreSQL database and one shared data
directory (photos, secret key), as behind a load balancer. Phones alternate between
them: pushes, resends, pulls and photos must behave as with one process, and the
scheduler must run in exactly one process (the advisory lock), handing over when
that process dies.

PostgreSQL only: tests/conftest.py leaves `postgres` tests out on SQLite.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from PIL import Image

from conftest import LiveServer
from live_support import RoundRobin, distinct_jpeg, live_rows
from phone import Phone

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCHEDULER_KEY = 727101  # server.scheduler.ADVISORY_KEY
DEMO_SITE = "阳光花园"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two processes, one database, one data directory; each runs its scheduler every second."""
    data_dir = Path(tempfile.mkdtemp(prefix="xunjian-scaleout-"))
    env = {"XUNJIAN_SCHEDULER_SECONDS": "1", "XUNJIAN_SLOT_GRACE_MINUTES": "0"}
    first = LiveServer(data_dir, env, name="server-a").start()
    second = LiveServer(data_dir, env, database_url=first.env["DATABASE_URL"], name="server-b")
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def decodes(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    return True


def push(http: Any, phone: Phone, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = http.post("/sync/push", json={"device_id": phone.device_id, "device_time": phone.stamp(), "ops": ops},
                         headers=phone.headers())
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_pushes_resends_pulls_and_photos_across_processes(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=60) as on_a, httpx.Client(base_url=b.url, timeout=60) as on_b:
        guard = Phone(on_a, "guard1").login()  # a token made by A works on B: the same database
        supervisor = Phone(on_b, "supervisor1").login()
        site_id = guard.user["site_ids"][0]
        supervisor.pull()

        photo = distinct_jpeg(801)
        sha = guard.add_photo(photo)
        response = on_a.put(f"/sync/photos/{sha}", content=photo, headers={**guard.headers(), "Content-Type": "image/jpeg"})
        assert response.status_code == 201, response.text
        assert on_b.head(f"/sync/photos/{sha}", headers=guard.headers()).status_code == 200
        again = on_b.put(f"/sync/photos/{sha}", content=photo, headers={**guard.headers(), "Content-Type": "image/jpeg"})
        assert again.status_code == 200, "B stores a second copy of a photo A already has"

        finding = guard.report(site_id, "drain", note="雨水井堵塞", photos=[sha])
        ops = list(guard.outbox)
        assert [r["status"] for r in push(on_a, guard, ops)] == ["applied"]
        resent = push(on_b, guard, ops)  # the phone never heard A's answer and asks B
        assert [(r["status"], r.get("original_status")) for r in resent] == [("duplicate", "applied")]

        body = supervisor.pull()  # incremental, from B
        assert body["full"] is False
        rect = next(r for r in body["rectifications"] if r["id"] == finding)
        assert rect["photos_before"] == [sha]
        served = on_b.get(f"/photos/{sha}", params={"size": "full"}, headers=supervisor.headers())
        assert served.status_code == 200 and decodes(served.content)

    # The same batch at the same moment to both processes: each op applied once, answered duplicate once.
    with RoundRobin([a.url]) as setup:
        cleaner = Phone(setup, "cleaner1").login()
        for n in range(25):
            cleaner.report(site_id, "garbage", note=f"同时 {n}")
        batch = list(cleaner.outbox)
    answers: list[list[dict[str, Any]]] = [[], []]
    barrier = threading.Barrier(2)

    def send(slot: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            barrier.wait()
            answers[slot] = push(http, cleaner, batch)

    threads = [threading.Thread(target=send, args=(n, url)) for n, url in enumerate((a.url, b.url))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for one, other in zip(*answers, strict=True):
        assert sorted([one["status"], other["status"]]) == ["applied", "duplicate"], (one, other)
    stored = [r["id"] for r in live_rows(a, "SELECT id FROM rectification")]
    assert all(stored.count(op["data"]["finding_id"]) == 1 for op in batch)


def test_pulls_alternating_between_processes_never_skip_a_change(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    reported: list[str] = []
    seen: set[str] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def write(username: str, urls: list[str]) -> None:
        try:
            with RoundRobin(urls) as http:  # every request to the other process
                phone = Phone(http, username).login()
                site_id = phone.user["site_ids"][0]
                for n in range(10):
                    ids = [phone.report(site_id, "water_snow", note=f"{username} {n}.{k}") for k in range(1 + n % 3)]
                    assert {r["status"] for r in phone.push()} == {"applied"}
                    reported.extend(ids)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    def read() -> None:
        try:
            with RoundRobin([b.url, a.url]) as http:
                phone = Phone(http, "supervisor1").login()
                # The full snapshot counts too: on a busy machine the first findings are already in it.
                seen.update(r["id"] for r in phone.pull()["rectifications"])
                while not done.is_set():
                    seen.update(r["id"] for r in phone.pull()["rectifications"])
                seen.update(r["id"] for r in phone.pull()["rectifications"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(u, urls)) for u, urls in
               (("guard1", [a.url, b.url]), ("cleaner1", [b.url, a.url]), ("gardener1", [a.url, b.url]))]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert not errors, errors
    assert len(reported) == 3 * (4 * 1 + 3 * 2 + 3 * 3)
    assert set(reported) <= seen


# --- the scheduler ---------------------------------------------------------------------------------

def _socket_inodes_by_local_port() -> dict[int, str]:
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            inodes[int(fields[1].rsplit(":", 1)[1], 16)] = fields[9]
    return inodes


def _process_sockets(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def scheduler_leaders(server: LiveServer, processes: list[LiveServer]) -> list[LiveServer | None]:
    """Who holds the scheduler's advisory lock on this database, found by the sockets of our processes.

    None stands for a holder that is none of them (a dead process's session PostgreSQL has not ended yet).
    """
    rows = live_rows(server, """
        SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ? AND l.classid = 0
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""", SCHEDULER_KEY)
    by_port = _socket_inodes_by_local_port()
    holders: list[LiveServer | None] = []
    for row in rows:
        inode = by_port.get(row["client_port"])
        owners = [p for p in processes if p.proc and p.proc.poll() is None and inode in _process_sockets(p.proc.pid)]
        holders.append(owners[0] if owners else None)
    return holders


def notifications(server: LiveServer, kind: str) -> dict[str, int]:
    """How many people got each event of a kind (a person gets each event once)."""
    rows = live_rows(server, "SELECT event_key, count(*) AS n FROM notification WHERE kind = ? GROUP BY event_key", kind)
    return {r["event_key"]: r["n"] for r in rows}


def test_one_scheduler_leader_settles_once_and_another_takes_over(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    processes = [a, b]
    leaders = wait_for(lambda: scheduler_leaders(a, processes), 60, "a scheduler leader")
    assert len(leaders) == 1 and leaders[0] is not None, leaders
    leader = leaders[0]
    survivor = b if leader is a else a
    for _ in range(5):  # both schedulers keep trying every second; the lock never has two holders
        assert scheduler_leaders(a, processes) == [leader]
        time.sleep(0.5)

    # Let the demo site have existed for two days: yesterday's and this morning's patrol windows
    # passed with nobody on them. The leader settles each missed once and tells each supervisor once.
    live_rows(a, "UPDATE site SET created_at = now() - interval '2 days' WHERE name = ? RETURNING id", DEMO_SITE)
    live_rows(a, "UPDATE round_template SET created_at = now() - interval '2 days' WHERE site IN "
                 "(SELECT id FROM site WHERE name = ?) RETURNING id", DEMO_SITE)
    supervisors = len(live_rows(a, """
        SELECT s.id FROM staff s JOIN staff_site m ON m.staff = s.id JOIN site ON site.id = m.site
        WHERE site.name = ? AND s.role IN ('supervisor', 'admin') AND s.active""", DEMO_SITE))

    def missed() -> dict[str, Any]:
        return {r["id"]: r["settled_at"] for r in live_rows(a, "SELECT id, settled_at FROM patrol_slot WHERE status = 'missed'")}

    def settled() -> bool:
        slots = missed()
        told = notifications(a, "missed_slot")
        return bool(slots) and set(told) == {f"missed_slot:{s}" for s in slots}

    wait_for(settled, 60, "the missed patrol windows to be settled and announced")
    first = missed()
    time.sleep(3)  # three more periods of both schedulers
    assert {k: v for k, v in missed().items() if k in first} == first, "a missed window was settled again"
    told = notifications(a, "missed_slot")
    assert set(told.values()) == {supervisors}, told

    # The leader dies without letting go; its database session ends, and the other process leads.
    assert leader.proc is not None
    leader.proc.kill()
    leader.proc.wait()
    wait_for(lambda: scheduler_leaders(survivor, processes) == [survivor], 60, "the survivor to lead")

    # The new leader runs the jobs: an overdue rectification is announced, once per person.
    with httpx.Client(base_url=survivor.url, timeout=60) as http:
        guard = Phone(http, "guard1").login()
        finding = guard.report(guard.user["site_ids"][0], "lighting", note="车库灯不亮")
        assert [r["status"] for r in guard.push()] == ["applied"]
    live_rows(survivor, "UPDATE rectification SET due_at = now() - interval '1 minute' WHERE id = ? RETURNING id",
              finding)
    overdue = wait_for(lambda: {k: n for k, n in notifications(survivor, "overdue").items() if finding in k},
                       60, "the overdue notice from the new leader")
    time.sleep(3)
    assert {k: n for k, n in notifications(survivor, "overdue").items() if finding in k} == overdue
    assert list(overdue.values()) == [supervisors]

    # The dead process comes back: it finds the lock taken and stays a follower.
    leader.start()
    time.sleep(3)
    assert scheduler_leaders(survivor, processes) == [survivor]
