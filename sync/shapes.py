"""The shape step for the record ops, in compiled code: msgspec reads a well-formed op in one call.

A push of 500 ops spends more time checking shapes field by field in Python
(`sync.ops.parse_op`) than the database spends storing them. Here each record
op's data is read by a msgspec struct (UUIDs, numbers, lists, lengths, choices
checked in C), and what msgspec cannot say the same way as the contract is
finished in Python with the same functions `parse_op` uses (times with their
offset and year range, the category list, photo hashes lowercased and deduplicated).

`parse_op` stays the definition: this path answers only ops it reads in full
and returns None for anything else (a bad field, an explicit null, an op type it
does not cover), and `parse_op` then judges that op with the contract's reason.
tests/test_sync_shapes.py checks the two paths agree on generated ops.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import msgspec

from server import standard
from sync.ops import MAX_ANSWERS, MAX_BYTES, MAX_OPS, MAX_PHOTOS, MAX_TEXT, Envelope, Op, parse_time

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Sha = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]
Photos = Annotated[list[Sha], msgspec.Meta(max_length=MAX_PHOTOS)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lng = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Accuracy = Annotated[float, msgspec.Meta(ge=0, le=100_000)]
UNSET: Any = msgspec.UNSET


class Answer(TypedDict):  # read straight into the dict the judging takes (unknown keys are dropped)
    check_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ok: bool
    note: NotRequired[Text]


class RoundStart(msgspec.Struct):
    round_id: uuid.UUID
    template_id: uuid.UUID
    started_at: str


class VisitRecord(msgspec.Struct):
    visit_id: uuid.UUID
    round_id: uuid.UUID
    checkpoint_id: uuid.UUID
    proof: Literal["qr", "code", "none"]
    scanned_at: str
    answers: Annotated[list[Answer], msgspec.Meta(max_length=MAX_ANSWERS)]
    secret: Text = UNSET
    lat: Lat = UNSET
    lng: Lng = UNSET
    accuracy_m: Accuracy = UNSET
    photos: Photos = UNSET


class RoundFinish(msgspec.Struct):
    round_id: uuid.UUID
    finished_at: str


class FindingReport(msgspec.Struct):
    finding_id: uuid.UUID
    site_id: uuid.UUID
    category: str
    severity: Literal["emergency", "normal"]
    checkpoint_id: uuid.UUID = UNSET
    zone_id: uuid.UUID = UNSET
    visit_id: uuid.UUID = UNSET
    note: Text = UNSET
    photos: Photos = UNSET
    lat: Lat = UNSET
    lng: Lng = UNSET


class Head(msgspec.Struct):
    """Every op: what it is and its data, which is read by the struct of its type."""

    op_id: uuid.UUID
    type: str
    at: str
    data: msgspec.Raw


class EnvelopeShape(msgspec.Struct):
    ops: list[msgspec.Raw]
    device_id: str = ""
    device_time: str = ""


TIMES = {"round.start": "started_at", "visit.record": "scanned_at", "round.finish": "finished_at"}
_ENVELOPE = msgspec.json.Decoder(EnvelopeShape)
_HEAD = msgspec.json.Decoder(Head)
_DATA = {name: msgspec.json.Decoder(struct) for name, struct in (
    ("round.start", RoundStart), ("visit.record", VisitRecord), ("round.finish", RoundFinish),
    ("finding.report", FindingReport))}


def read_envelope(body: bytes) -> Envelope | None:
    """The push body with its ops still as JSON text, or None: then `parse_envelope` reads it (or says why not)."""
    if len(body) > MAX_BYTES:
        return None
    try:
        body.decode()  # a body json.loads would not read as UTF-8 text is parse_envelope's to judge
        shape = _ENVELOPE.decode(body)
    except (UnicodeDecodeError, msgspec.DecodeError):
        return None
    device_time = parse_time(shape.device_time)
    if len(shape.ops) > MAX_OPS or device_time is None:
        return None
    return Envelope(device_id=shape.device_id[:64], device_time=device_time, ops=list(shape.ops))


def read_op(raw: msgspec.Raw) -> Op | None:
    """The op in `raw` as `parse_op` would return it, or None when this path cannot say so (parse_op decides)."""
    try:
        head = _HEAD.decode(raw)
        data = _DATA[head.type].decode(head.data) if head.type in _DATA else None
    except msgspec.DecodeError:
        return None
    at = _time(head.at)
    if data is None or at is None:
        return None
    typed = {name: value for name, value in msgspec.structs.asdict(data).items() if value is not UNSET}
    if not _finish(head.type, typed):
        return None
    typed.setdefault("photos", [])
    typed.setdefault("note", "")
    return Op(op_id=head.op_id, type=head.type, at=at, data=typed, raw=None,
              data_json=bytes(head.data).decode())


def _time(text: str) -> datetime | None:
    """`parse_time` for a time as phones write it (ISO 8601 with an offset), else None: parse_time decides.

    Python 3.11 reads a trailing Z itself; what parse_time would first strip or rewrite
    (spaces, a lowercase z) fails here and goes to it.
    """
    if len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None or not 2000 <= moment.year <= 2200:
        return None
    return moment


def _finish(op_type: str, typed: dict[str, Any]) -> bool:
    """The checks msgspec does not make as the contract words them; False sends the op to parse_op."""
    name = TIMES.get(op_type)
    if name is not None:
        moment = _time(typed[name])
        if moment is None:
            return False
        typed[name] = moment
    if op_type == "finding.report" and typed["category"] not in standard.category_codes():
        return False
    if typed.get("photos"):
        typed["photos"] = list(dict.fromkeys(sha.lower() for sha in typed["photos"]))
    if op_type == "visit.record":
        for answer in typed["answers"]:
            answer.setdefault("note", "")
    return True
