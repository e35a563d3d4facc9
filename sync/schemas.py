"""The shapes of shared/SYNC.md as types, so the OpenAPI schema of /sync says what the contract says.

Replies are TypedDicts: the services build plain dicts, and these only describe
them (adding fields is allowed by the contract, so none forbids extra keys).
The push envelope is read by the handler itself (its size is judged before its
content), so it is documented as a hand-written schema.
"""

# No `from __future__ import annotations` here: TypedDict reads NotRequired[...]
# from the evaluated annotations when the class is made (Python 3.11).
from typing import Any, Literal, NotRequired, TypedDict

from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema

from server.openapi import obj
from sync.ops import MAX_OPS


class Me(TypedDict):
    id: str
    name: str
    role: str
    site_ids: list[str]


class PulledSite(TypedDict):
    id: str
    name: str
    level: int
    timezone: str


class PulledZone(TypedDict):
    id: str
    site_id: str
    name: str


class PulledCheckpoint(TypedDict):
    id: str
    site_id: str
    zone_id: str | None
    name: str
    kind: str
    qr_hash: str
    code_hash: str
    lat: NotRequired[float]
    lng: NotRequired[float]


class Check(TypedDict):
    id: str
    label_zh: str
    label_en: str


class TemplateItem(TypedDict):
    checkpoint_id: str
    checks: list[Check]


class PulledTemplate(TypedDict):
    id: str
    site_id: str
    role: str
    kind: str
    name: str
    frequency: dict[str, Any]
    proof: Literal["qr", "any"]
    items: list[TemplateItem]


class Due(TypedDict):
    template_id: str
    window_start: str
    window_end: str
    status: Literal["pending", "done", "late", "missed"]


class PulledRectification(TypedDict):
    id: str
    site_id: str
    category: str
    severity: Literal["emergency", "normal"]
    state: Literal["open", "assigned", "in_progress", "fixed", "reopened", "verified"]
    due_at: str | None
    assignee_id: str | None
    note: str
    photos_before: list[str]
    photos_after: list[str]
    created_at: str | None
    updated_at: str | None


class PulledStaff(TypedDict):
    id: str
    name: str
    role: str


class PulledNotification(TypedDict):
    id: str
    kind: str
    title: str
    body: str
    url: str
    created_at: str | None
    read: bool


class Deleted(TypedDict):
    type: str
    id: str


class PullReply(TypedDict):
    """GET /sync/pull: a full snapshot or what changed since the cursor."""

    cursor: str
    server_time: str
    full: bool
    me: Me
    sites: list[PulledSite]
    zones: list[PulledZone]
    checkpoints: list[PulledCheckpoint]
    templates: list[PulledTemplate]
    due: list[Due]
    rectifications: list[PulledRectification]
    staff: list[PulledStaff]
    notifications: list[PulledNotification]
    deleted: list[Deleted]


class OpResult(TypedDict):
    """One op's answer; `op_id` is null when the op carried no readable one."""

    op_id: str | None
    status: Literal["applied", "duplicate", "conflict", "rejected"]
    code: NotRequired[str]
    reason: NotRequired[str]
    state: NotRequired[str]
    missing_photos: NotRequired[list[str]]
    original_status: NotRequired[str]


class PushReply(TypedDict):
    """POST /sync/push: one answer per op, in the order of `ops`."""

    server_time: str
    results: list[OpResult]


def _string(fmt: OpenAPIFormat | None = None) -> Schema:
    return Schema(type=OpenAPIType.STRING, format=fmt)


# Only the envelope is a contract of the HTTP layer: each op's `data` is judged
# op by op (a bad op is answered `rejected`, never a 400 for the batch).
PUSH_ENVELOPE = obj({
    "device_id": _string(),
    "device_time": _string(OpenAPIFormat.DATE_TIME),
    "ops": Schema(type=OpenAPIType.ARRAY, max_items=MAX_OPS, items=obj({
        "op_id": _string(OpenAPIFormat.UUID),
        "type": _string(),
        "at": _string(OpenAPIFormat.DATE_TIME),
        "data": Schema(type=OpenAPIType.OBJECT),
    }, required=["op_id", "type", "at", "data"])),
}, required=["device_time", "ops"])
