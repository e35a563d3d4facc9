"""The scheduler's missed-slot job: a patrol window nobody covered is marked missed exactly once,
even when two runs (two tasks, or two server processes) settle at the same moment; the console then
shows it missed once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from conftest import ROOT, login, run
from console_data import new_site
from server import scheduler
from server.notify import events
from server.rounds.services import slot_id
from server.rounds.tables import PatrolSlot

TZ = ZoneInfo("Asia/Shanghai")

SETTLE = """
import asyncio, json, sys, time
from datetime import datetime
from server import scheduler
from server.rounds.services import settle_missed_slots
at, site = datetime.fromisoformat(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
start = float(sys.stdin.readline())  # sent once both processes are ready
time.sleep(max(0.0, start - time.time()))  # both processes settle at the same instant
missed = asyncio.run(settle_missed_slots(at))
print(json.dumps([str(m.id) for m in missed if str(m.site) == site]))
"""


def yesterday_window(hour: int) -> datetime:
    day = datetime.now(TZ).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(timezone.utc)


async def site_slots(site_id: Any) -> dict[Any, str]:
    rows = await PatrolSlot.select(PatrolSlot.id, PatrolSlot.status).where(PatrolSlot.site == site_id)
    return {r["id"]: r["status"] for r in rows}


def test_two_concurrent_runs_mark_each_window_missed_once(client, monkeypatch):
    s = run(new_site(level=2, created_at=datetime.now(timezone.utc) - timedelta(days=3)))
    site_id = s["site"].id
    calls: Counter[Any] = Counter()
    real_hook = events.slot_missed

    async def counting(slot: Any) -> None:
        calls[slot.id] += 1
        await real_hook(slot)

    monkeypatch.setattr(events, "slot_missed", counting)
    at = datetime.now(timezone.utc)

    async def twice() -> list[Any]:
        return await asyncio.gather(scheduler.settle_missed_slots(at), scheduler.settle_missed_slots(at))

    counts = run(twice())
    slots = run(site_slots(site_id))
    missed = {sid for sid, status in slots.items() if status == "missed"}
    ten = slot_id(s["templates"]["patrol.core"].id, yesterday_window(10))
    assert ten in missed and len(missed) >= 12  # every window of yesterday at least
    assert {sid: calls[sid] for sid in missed} == {sid: 1 for sid in missed}  # the hook once per window
    assert sum(counts) >= len(missed)  # the two runs together reported them (other sites' too)

    # A third run finds nothing new for this site; the console shows the window missed, once.
    run(scheduler.settle_missed_slots(at))
    assert {sid: calls[sid] for sid in missed} == {sid: 1 for sid in missed}
    login(client, s["users"]["supervisor"].username)
    day = (datetime.now(TZ) - timedelta(days=1)).date()
    html = client.get(f"/console/sites/{site_id}/logs/slots?month={day:%Y-%m}&status=missed").text
    local_ten = yesterday_window(10).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    assert html.count(local_ten) == 1


def test_two_server_processes_settling_at_once_split_the_windows_without_overlap():
    s = run(new_site(level=2, created_at=datetime.now(timezone.utc) - timedelta(days=3)))
    site_id = str(s["site"].id)
    at = datetime.now(timezone.utc).isoformat()
    env = {**os.environ, "PICCOLO_CONF": "piccolo_conf", "XUNJIAN_SCHEDULER_SECONDS": "0"}
    procs = [subprocess.Popen([sys.executable, "-c", SETTLE, at, site_id], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    # Both have imported the server (seconds on a busy machine): give them one instant to start at.
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            for other in procs:
                other.kill()
            _out, err = proc.communicate(timeout=240)
            raise AssertionError(f"settling process did not start: {err[-3000:]}")
    start = time.time() + 0.5
    for proc in procs:
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    first, second = (set(o) for o in outputs)
    assert len(outputs[0]) == len(first) and len(outputs[1]) == len(second)
    assert not first & second
    missed = {str(sid) for sid, status in run(site_slots(s["site"].id)).items() if status == "missed"}
    assert first | second == missed and len(missed) >= 12
