"""Sync against a real server process: the same batch from two connections at once, pulls racing pushes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import httpx

from conftest import ON_POSTGRES
from phone import Phone


def http(live_server) -> httpx.Client:
    return httpx.Client(base_url=live_server.url, timeout=60)


def live_scalar(live_server, sql: str, *args) -> int:
    """One number from the live server's own database (SQLite file or its PostgreSQL database)."""
    if ON_POSTGRES:
        import asyncpg

        async def go() -> int:
            conn = await asyncpg.connect(live_server.env["DATABASE_URL"])
            try:
                return await conn.fetchval(sql.replace("?", "$1"), *args)
            finally:
                await conn.close()

        return asyncio.run(go())
    with sqlite3.connect(live_server.data_dir / "xunjian.sqlite3") as conn:
        return conn.execute(sql, args).fetchone()[0]


def test_the_same_batch_from_two_connections_at_once_applies_once(live_server):
    with http(live_server) as setup:
        guard = Phone(setup, "guard1").login()
        site_id = guard.user["site_ids"][0]
        body = guard.pull()
        patrol = next(t for t in body["templates"] if t["code"] == "patrol.core")
        round_id = guard.start_round(patrol["id"])
        for item in patrol["items"][:5]:
            guard.visit(round_id, item["checkpoint_id"], proof="none",
                        answers=[{"check_id": c["id"], "ok": True} for c in item["checks"]])
        guard.finish_round(round_id)
        findings = [guard.report(site_id, "garbage", note=f"桶满 {i}") for i in range(20)]
        batch = {"device_id": guard.device_id, "device_time": guard.stamp(), "ops": list(guard.outbox)}

    barrier = threading.Barrier(2)
    answers: list[list[dict]] = [[], []]

    def send(slot: int) -> None:
        with http(live_server) as client:
            barrier.wait()
            response = client.post("/sync/push", json=batch, headers=guard.headers())
            assert response.status_code == 200, response.text
            answers[slot] = response.json()["results"]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers[0]) == len(answers[1]) == len(batch["ops"])
    for first, second in zip(*answers):
        assert sorted([first["status"], second["status"]]) == ["applied", "duplicate"], (first, second)
        duplicate = first if first["status"] == "duplicate" else second
        assert duplicate["original_status"] == "applied"
    assert live_scalar(live_server, "SELECT count(*) FROM inspection_round WHERE id = ?", round_id) == 1
    assert live_scalar(live_server, "SELECT count(*) FROM visit WHERE round = ?", round_id) == 5
    marks = ",".join(f"'{f}'" for f in findings)
    assert live_scalar(live_server, f"SELECT count(*) FROM rectification WHERE id IN ({marks})") == 20
    assert live_scalar(live_server, f"SELECT count(*) FROM sync_op WHERE op_id IN "
                                    f"({','.join(repr(op['op_id']) for op in batch['ops'])})") == len(batch["ops"])


def test_a_pull_racing_pushes_never_skips_a_change(live_server):
    with http(live_server) as setup:
        site_id = Phone(setup, "supervisor1").login().user["site_ids"][0]
    writers = ["guard1", "cleaner1", "gardener1"]
    reported: list[str] = []
    seen: set[str] = set()
    reading = threading.Event()  # the writers start once the reader is pulling, so the two do race
    done = threading.Event()
    errors: list[BaseException] = []

    def write(username: str) -> None:
        try:
            with http(live_server) as client:
                p = Phone(client, username).login()
                reading.wait(timeout=60)
                for i in range(12):
                    ids = [p.report(site_id, "water_snow", note=f"{username} {i}.{j}") for j in range(1 + i % 3)]
                    assert {r["status"] for r in p.push()} == {"applied"}
                    reported.extend(ids)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    def read() -> None:
        try:
            with http(live_server) as client:
                p = Phone(client, "supervisor1").login()
                seen.update(r["id"] for r in p.pull()["rectifications"])  # the first pull is a full one
                reading.set()
                while not done.is_set():
                    seen.update(r["id"] for r in p.pull()["rectifications"])
                seen.update(r["id"] for r in p.pull()["rectifications"])
                assert p.pulls > 3
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            reading.set()

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(u,)) for u in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors, errors
    assert len(reported) == 3 * (1 + 2 + 3) * 4
    assert set(reported) <= seen  # every change reached the incremental puller; none was skipped
