"""Push envelopes and operations: their shape, as plain functions over plain data (shared/SYNC.md).

Nothing here touches the database: `parse_envelope` turns a request body into an
`Envelope` (or raises TooLarge / Invalid bad_envelope), and `parse_op` turns one
op into an `Op` with typed data (or raises `Rejection` with `invalid` or
`unknown_type`), which is the first step of the judging order.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from server import standard
from server.errors import Invalid, TooLarge
from server.ids import parse_uuid

MAX_OPS = 500
MAX_BYTES = 1024 * 1024
MAX_TEXT = 2000
MAX_PHOTOS = 20
MAX_ANSWERS = 100
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PROOFS = ("qr", "code", "none")
SEVERITIES = ("emergency", "normal")
ACTIONS = ("assign", "start", "fix", "verify", "reopen", "comment")


class Rejection(Exception):
    """An op the server keeps in quarantine: a stable code and a reason a person can read."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Op:
    op_id: uuid.UUID
    type: str
    at: datetime
    data: dict[str, Any]  # typed: UUIDs, times, lists as the checks return them
    raw: dict[str, Any] | None  # the op as received (None when read from its JSON text: sync/shapes.py)
    data_json: str | None = None  # the op's data as the JSON text the phone sent, when read from it


@dataclass
class Envelope:
    device_id: str
    device_time: datetime
    ops: list[Any] = field(default_factory=list)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset, or None (a time without an offset is unreadable: whose clock?)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    if not 2000 <= moment.year <= 2200:
        return None
    return moment


def bad_envelope(reason: str) -> Invalid:
    return Invalid(f"无法读取的同步请求 / unreadable push: {reason}", code="bad_envelope")


def check_size(length: int | None) -> None:
    """The size limit, judged before anything else (Content-Length or the bytes read)."""
    if length is not None and length > MAX_BYTES:
        raise TooLarge(f"请求过大, 请分批发送 / push too large (over {MAX_BYTES} bytes): split the batch",
                       code="too_large")


def parse_envelope(body: bytes) -> Envelope:
    """Size, then JSON, then the op count, then the envelope's own fields."""
    check_size(len(body))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_envelope("not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("ops"), list):
        raise bad_envelope("no ops list")
    if len(payload["ops"]) > MAX_OPS:
        raise TooLarge(f"一次最多{MAX_OPS}条操作, 请分批发送 / at most {MAX_OPS} ops per push: split the batch",
                       code="too_large")
    device_time = parse_time(payload.get("device_time"))
    if device_time is None:
        raise bad_envelope("no readable device_time")
    device_id = payload.get("device_id")
    return Envelope(device_id=device_id[:64] if isinstance(device_id, str) else "", device_time=device_time,
                    ops=payload["ops"])


# --- field checkers: each returns the typed value or raises Rejection -------------------------------

def _invalid(name: str, what: str) -> Rejection:
    return Rejection("invalid", f"字段 {name} 无效 / field {name}: {what}")


def _uuid(name: str, value: Any) -> uuid.UUID:
    parsed = parse_uuid(value)
    if parsed is None:
        raise _invalid(name, "must be a UUID")
    return parsed


def _time(name: str, value: Any) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise _invalid(name, "must be an ISO 8601 time with an offset")
    return parsed


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _invalid(name, f"must be text of at most {MAX_TEXT} characters")
    return value


def _number(low: float, high: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise _invalid(name, f"must be a number from {low} to {high}")
        return float(value)

    return check


def _choice(options: tuple[str, ...] | Callable[[], list[str]]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        allowed = options() if callable(options) else options
        if value not in allowed:
            raise _invalid(name, f"must be one of {', '.join(allowed)}")
        return str(value)

    return check


def _photos(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_PHOTOS:
        raise _invalid(name, f"must be a list of at most {MAX_PHOTOS} SHA-256 hex strings")
    shas = []
    for item in value:
        if not isinstance(item, str) or not SHA256.match(item.lower()):
            raise _invalid(name, "must hold SHA-256 hex strings")
        shas.append(item.lower())
    return list(dict.fromkeys(shas))


def _answers(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_ANSWERS:
        raise _invalid(name, f"must be a list of at most {MAX_ANSWERS} answers")
    answers = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("check_id"), str) or not item["check_id"] \
                or len(item["check_id"]) > 64 or not isinstance(item.get("ok"), bool):
            raise _invalid(name, "each answer needs check_id (text) and ok (true/false)")
        note = item.get("note")
        answers.append({"check_id": item["check_id"], "ok": item["ok"],
                        "note": _text(f"{name}.note", note) if note is not None else ""})
    return answers


def _keys(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and 0 < len(value[k]) <= 200
                                              for k in ("p256dh", "auth")):
        raise _invalid(name, "must hold p256dh and auth")
    return {"p256dh": value["p256dh"], "auth": value["auth"]}


def _endpoint(name: str, value: Any) -> str:
    # Which schemes a push service may use is the subscriptions service's rule.
    if not isinstance(value, str) or not value.startswith(("https://", "http://")) or len(value) > 2000:
        raise _invalid(name, "must be the push service's URL")
    return value


_LAT, _LNG, _ACC = _number(-90, 90), _number(-180, 180), _number(0, 100_000)

# type -> field -> (checker, required)
SCHEMAS: dict[str, dict[str, tuple[Callable[[str, Any], Any], bool]]] = {
    "round.start": {"round_id": (_uuid, True), "template_id": (_uuid, True), "started_at": (_time, True)},
    "visit.record": {
        "visit_id": (_uuid, True), "round_id": (_uuid, True), "checkpoint_id": (_uuid, True),
        "proof": (_choice(PROOFS), True), "secret": (_text, False), "scanned_at": (_time, True),
        "lat": (_LAT, False), "lng": (_LNG, False), "accuracy_m": (_ACC, False),
        "answers": (_answers, True), "photos": (_photos, False),
    },
    "round.finish": {"round_id": (_uuid, True), "finished_at": (_time, True)},
    "finding.report": {
        "finding_id": (_uuid, True), "site_id": (_uuid, True), "category": (_choice(standard.category_codes), True),
        "severity": (_choice(SEVERITIES), True), "checkpoint_id": (_uuid, False), "zone_id": (_uuid, False),
        "visit_id": (_uuid, False), "note": (_text, False), "photos": (_photos, False),
        "lat": (_LAT, False), "lng": (_LNG, False),
    },
    "rect.transition": {
        "rect_id": (_uuid, True), "action": (_choice(ACTIONS), True), "assignee_id": (_uuid, False),
        "note": (_text, False), "photos": (_photos, False),
    },
    "push.subscribe": {"endpoint": (_endpoint, True), "keys": (_keys, True)},
}
OP_TYPES = tuple(SCHEMAS)


def parse_op(raw: Any) -> Op:
    """The shape step of the judging order: op_id, at, type, then each data field."""
    if not isinstance(raw, dict):
        raise Rejection("invalid", "操作格式无效 / an op must be an object")
    op_id = parse_uuid(raw.get("op_id"))
    if op_id is None:
        raise Rejection("invalid", "op_id 必须是UUID / op_id must be a UUID")
    at = parse_time(raw.get("at"))
    if at is None:
        raise Rejection("invalid", "at 必须是带时区的时间 / at must be an ISO 8601 time with an offset")
    op_type = raw.get("type")
    # isinstance first: a list or object as the type is unhashable, and `in` on the dict would raise.
    if not isinstance(op_type, str) or op_type not in SCHEMAS:
        raise Rejection("unknown_type", f"未知的操作类型 / unknown op type: {str(op_type)[:40]}")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise Rejection("invalid", "data 必须是对象 / data must be an object")
    typed: dict[str, Any] = {}
    for name, (check, required) in SCHEMAS[op_type].items():
        value = data.get(name)
        if value is None:
            if required:
                raise _invalid(name, "is required")
            continue
        typed[name] = check(name, value)
    typed.setdefault("photos", [])
    typed.setdefault("note", "")
    return Op(op_id=op_id, type=op_type, at=at, data=typed, raw=raw)


@dataclass(frozen=True)
class Clock:
    """The time of one push: receipt (server), the device's clock, and the skew between them."""

    received_at: datetime
    device_time: datetime
    flag_minutes: int
    # Worked out once: every op of a batch asks for them.
    skew: timedelta = field(init=False)
    skew_seconds: float = field(init=False)
    flagged: bool = field(init=False)

    def __post_init__(self) -> None:
        skew = self.received_at - self.device_time
        object.__setattr__(self, "skew", skew)
        object.__setattr__(self, "skew_seconds", skew.total_seconds())
        object.__setattr__(self, "flagged", abs(skew) > timedelta(minutes=self.flag_minutes))

    def corrected(self, device_moment: datetime) -> datetime:
        """A device time on the server's clock: at + (receipt - device_time)."""
        return device_moment + self.skew
