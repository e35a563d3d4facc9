"""Waking this process's sender when a notification is stored, so an emergency does not wait a full period.

The sender itself runs in the scheduler's task (server/scheduler.py); a request
handler only stores rows and calls `wake()`, which never blocks and does nothing
when no scheduler runs in this process (tests, the command line).
"""

from __future__ import annotations

import asyncio

_event: asyncio.Event | None = None
_loop: asyncio.AbstractEventLoop | None = None


def attach() -> asyncio.Event:
    """Called by the scheduler on its event loop: from now on `wake()` signals it."""
    global _event, _loop
    _event, _loop = asyncio.Event(), asyncio.get_running_loop()
    return _event


def detach() -> None:
    global _event, _loop
    _event, _loop = None, None


def wake() -> None:
    """Ask the sender to run now (safe from any thread; a no-op without a scheduler)."""
    event, loop = _event, _loop
    if event is None or loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
    else:
        loop.call_soon_threadsafe(event.set)
