"""The in-process scheduler: one leader at a time, jobs that survive each other's failures, and a live
server that pushes an emergency within seconds without holding up the phone's request."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from conftest import LiveServer, run
from notify_loopback import Loopback, Subscriber, b64url
from phone import Phone
from server import scheduler
from server.notify import subscriptions
from server.rectifications.services import report_finding


def test_only_one_process_leads_at_a_time():
    """On PostgreSQL an advisory lock on a dedicated connection, on SQLite a file lock."""

    async def go() -> list[bool]:
        first, second = scheduler.Leadership(), scheduler.Leadership()
        steps = [await first.acquire(), await second.acquire(), await first.acquire()]
        await first.release()
        steps.append(await second.acquire())
        steps.append(await first.acquire())
        await second.release()
        return steps

    assert run(go()) == [True, False, True, True, False]


def test_a_failing_job_does_not_stop_the_others(make_site):
    site = make_site(roles=("guard", "supervisor"))
    service = Loopback()
    try:
        phone = Subscriber(service.url("/push/sup"))
        run(subscriptions.subscribe(site["users"]["supervisor"].id, phone.endpoint, phone.p256dh, b64url(phone.auth)))
        run(report_finding(site["users"]["guard"], uuid.uuid4(), site["site"].id, "hazard", "emergency"))

        async def broken(at: datetime) -> Any:
            raise RuntimeError("the deadline job broke")

        jobs = (scheduler.Job("broken", broken), scheduler.Job("send_pushes", scheduler.send_pushes))
        results = run(scheduler.run_jobs(jobs))
        assert isinstance(results["broken"], RuntimeError)
        assert results["send_pushes"]["sent"] >= 1
        assert phone.decrypt(service.requests_to("/push/sup")[0])["kind"] == "emergency"
    finally:
        service.close()


def test_a_stored_notification_wakes_the_sender_long_before_the_period(make_site):
    site = make_site(roles=("guard", "supervisor"))
    service = Loopback()
    try:
        phone = Subscriber(service.url("/push/woken"))
        run(subscriptions.subscribe(site["users"]["supervisor"].id, phone.endpoint, phone.p256dh, b64url(phone.auth)))

        async def go() -> float:
            task = asyncio.create_task(scheduler.Scheduler(period_seconds=600).run())
            await asyncio.sleep(1)  # the first period runs at start; the next is ten minutes away
            started = time.monotonic()
            await report_finding(site["users"]["guard"], uuid.uuid4(), site["site"].id, "hazard", "emergency")
            while not service.requests_to("/push/woken") and time.monotonic() - started < 20:
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return time.monotonic() - started

        elapsed = run(go())
        assert service.requests_to("/push/woken"), "the emergency was not pushed"
        print(f"\nemergency pushed {elapsed:.2f} s after the finding (period 600 s)")
        assert elapsed < 20
    finally:
        service.close()


def test_a_live_server_pushes_an_emergency_in_the_background():
    """The real server with its scheduler on: the phone's push returns at once, the push follows."""
    service = Loopback(delay=8)  # a push service slower than any request may take
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-live-notify-")),
                        env_extra={"XUNJIAN_SCHEDULER_SECONDS": "2"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            browser = Subscriber(service.url("/push/supervisor1"))
            supervisor = Phone(http, "supervisor1").login()
            supervisor.enqueue("push.subscribe", {"endpoint": browser.endpoint,
                                                  "keys": {"p256dh": browser.p256dh, "auth": b64url(browser.auth)}})
            assert [a["status"] for a in supervisor.push()] == ["applied"]

            guard = Phone(http, "guard1").login()
            guard.report(guard.user["site_ids"][0], "fire_safety", severity="emergency", note="配电房冒烟")
            started = time.monotonic()
            assert [a["status"] for a in guard.push()] == ["applied"]
            answered = time.monotonic() - started

        [request] = service.wait_for("/push/supervisor1", timeout=30)
        arrived = time.monotonic() - started
        message = browser.decrypt(request)
        assert message["kind"] == "emergency" and "配电房冒烟" in message["body"]
        print(f"\nphone's push answered in {answered:.2f} s; the Web Push reached the service {arrived:.2f} s "
              f"after it (the service then took {service.delay:.0f} s to answer)")
        assert answered < service.delay
    finally:
        server.stop()
        service.close()


def test_a_dead_leader_is_replaced():
    """PostgreSQL: the leader's session is killed; SQLite: the leading process is killed."""
    from conftest import ON_POSTGRES

    async def postgres() -> list[bool]:
        import asyncpg

        from server.db import engine

        leader, other = scheduler.Leadership(), scheduler.Leadership()
        assert await leader.acquire()
        assert not await other.acquire()
        admin = await asyncpg.connect(**engine().config)
        try:
            pid = await admin.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted",
                scheduler.ADVISORY_KEY)
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        steps = [await other.acquire(), await leader.acquire()]
        await other.release()
        await leader.release()
        return steps

    if ON_POSTGRES:
        assert run(postgres()) == [True, False]
        return
    import subprocess
    import sys

    from server.settings import get_settings

    lock = get_settings().data_path / "scheduler.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('leading', flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "leading"
        other = scheduler.Leadership()
        assert not run(other.acquire())
        holder.kill()
        holder.wait(10)
        assert run(other.acquire())
        run(other.release())
    finally:
        holder.kill()
