"""What a domain decision sees: the plain data a record op is judged on (no database, no HTTP).

A sync push reads one `World` per batch (sync/snapshot.py: one query per table);
a console action or a single op reads one for its one record. The domains'
`decide` modules judge an op on it (server/rounds/decide.py,
server/rectifications/decide.py) and keep it up to date as they decide, so the
next op of the batch sees what the previous one made; the domains' writers then
write the rows in bulk.

Rejections are the domains' errors (server/errors.py) with the contract's codes:
`not_found`, `id_reused`, `forbidden`, `photo_required`, `bad_assignee`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from server.errors import AppError, Forbidden, NotFound
from server.staff.tables import SUPERVISOR_ROLES


class Clock(Protocol):
    """The time of what is being decided: receipt (server), skew, and device times made server times."""

    received_at: datetime
    skew_seconds: float
    flagged: bool

    def corrected(self, device_moment: datetime) -> datetime: ...


@dataclass
class RoundState:
    """A round as a decision sees it: who started it, where, whether it is finished, what it visited."""

    id: uuid.UUID
    template: uuid.UUID
    site: uuid.UUID
    staff: uuid.UUID
    state: str
    visited: set[uuid.UUID] = field(default_factory=set)  # checkpoints visited in it


@dataclass
class CheckpointInfo:
    id: uuid.UUID
    site: uuid.UUID
    qr_hash: str
    code_hash: str


@dataclass
class World:
    """The rows a batch of decisions references (a None value: not there, or outside the actor's sites)."""

    user: Any  # the Staff row of who acts
    site_ids: set[uuid.UUID]  # the actor's sites (server.staff.services.site_ids_of)
    clock: Clock
    seq: int  # the change position the writing transaction holds
    sites: dict[uuid.UUID, Any] = field(default_factory=dict)  # Site rows of the actor's sites
    figures: dict[tuple[uuid.UUID, str], float] = field(default_factory=dict)
    templates: dict[uuid.UUID, Any] = field(default_factory=dict)  # RoundTemplate rows
    checks: dict[uuid.UUID, dict[uuid.UUID, dict[str, str]]] = field(default_factory=dict)
    checkpoints: dict[uuid.UUID, CheckpointInfo | None] = field(default_factory=dict)
    zones: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # zone -> its site
    rounds: dict[uuid.UUID, RoundState | None] = field(default_factory=dict)
    visits: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)  # visit -> (site, round)
    rects: dict[uuid.UUID, dict[str, Any] | None] = field(default_factory=dict)  # Rectification rows as dicts
    positions: dict[uuid.UUID, int] = field(default_factory=dict)  # rectification -> steps in its history
    staff: dict[uuid.UUID, Any] = field(default_factory=dict)  # assignees named: Staff rows
    staff_sites: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)  # their sites
    photos: set[str] = field(default_factory=set)  # uploaded already
    photos_asked: set[str] = field(default_factory=set)  # the hashes `photos` was read for
    taken: set[uuid.UUID] = field(default_factory=set)  # ids that ops would create and that exist

    @property
    def is_supervisor(self) -> bool:
        return self.user.role in SUPERVISOR_ROLES


@dataclass
class Outcome:
    """What a decision answers: applied or conflict, the record's state, the photos not uploaded yet."""

    status: str  # applied | conflict
    state: str = ""
    missing_photos: list[str] = field(default_factory=list)


def not_found(what: tuple[str, str]) -> NotFound:
    return NotFound(f"找不到{what[0]} / no such {what[1]} in your sites")


def id_reused(name: str) -> AppError:
    return AppError(f"{name} 已被另一条操作使用 / {name} already exists under another op_id", code="id_reused")


def forbidden(reason: str) -> Forbidden:
    return Forbidden(reason)


def claim(world: World, ident: uuid.UUID, name: str) -> None:
    """An id the op would create must not exist yet (the contract's id_reused step)."""
    if ident in world.taken:
        raise id_reused(name)


@dataclass(frozen=True)
class ServerClock:
    """The clock of a decision made on the server (the console, reception, a service call): no device to correct."""

    received_at: datetime
    skew: Any = None  # a timedelta the caller measured, when the times came from a device
    flagged: bool = False

    @property
    def skew_seconds(self) -> float:
        return self.skew.total_seconds() if self.skew is not None else 0.0

    def corrected(self, device_moment: datetime) -> datetime:
        return device_moment + self.skew if self.skew is not None else device_moment
