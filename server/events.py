"""Domain events: what happened, published by the domain that did it, handled by whoever subscribed.

Domains (rounds, rectifications, sites, staff, photos) publish; they never
import who listens. `server.notify` subscribes its handlers (`server.notify.install`),
and the rounds and rectifications domains subscribe to photos arriving
(`server.wiring.install` wires them all; the app, the command line and the tests call it).

Two ways to hand an event over:

- `publish(*events)` after the commit: each handler runs, a failing one is logged,
  never raised (a notification must never fail the write it reports);
- `deliver(event)` inside the caller's transaction: handlers' writes commit with
  the caller's, and a failure is raised for the caller to roll back (a savepoint).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger("xunjian.events")

Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class FindingsReported:
    """Findings opened rectifications: (finding, rectification) rows, dicts or table rows."""

    pairs: list[tuple[Any, Any]]
    sites: dict[Any, Any] = field(default_factory=dict)  # site rows the publisher has read already


@dataclass(frozen=True)
class RectificationAssigned:
    """A rectification got (or changed) its assignee."""

    rectification: Any


@dataclass(frozen=True)
class RectificationReopened:
    """A supervisor reopened a fixed rectification."""

    rectification: Any


@dataclass(frozen=True)
class SlotMissed:
    """A patrol window passed with no finished round."""

    slot: Any


@dataclass(frozen=True)
class PhotoArrived:
    """A photo was stored (delivered inside the transaction that stored it).

    `refs` are the photo's PhotoRef rows; `seq` the change position that transaction holds.
    """

    sha256: str
    seq: int
    refs: list[dict[str, Any]]


_handlers: dict[type, list[Handler]] = {}


def subscribe(kind: type, handler: Handler) -> None:
    """Call `handler(event)` for every event of this kind (subscribing the same handler twice is once)."""
    handlers = _handlers.setdefault(kind, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(kind: type, handler: Handler) -> None:
    if handler in _handlers.get(kind, []):
        _handlers[kind].remove(handler)


def handlers_of(kind: type) -> list[Handler]:
    return list(_handlers.get(kind, []))


async def deliver(event: Any) -> None:
    """Run the event's handlers now, inside the caller's transaction; the first failure is raised."""
    for handler in handlers_of(type(event)):
        await handler(event)


async def publish(*events: Any) -> None:
    """Run the handlers of events that have committed; a failing handler is logged, never raised."""
    for event in events:
        for handler in handlers_of(type(event)):
            try:
                await handler(event)
            except Exception:  # noqa: BLE001 - a notification must never fail the write it reports
                log.exception("handler of %s failed", type(event).__name__)
