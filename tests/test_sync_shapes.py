"""The compiled reading of ops (sync/shapes.py) agrees with the contract's checks (sync.ops.parse_op).

Whatever op the fast path reads, parse_op reads to the same typed op; whatever op
parse_op rejects, the fast path leaves to it. The phone's own ops take the fast path.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phone import Phone
from server.errors import AppError
from sync.ops import MAX_OPS, Rejection, parse_envelope, parse_op
from sync.shapes import read_envelope, read_op

UUID = "0192e0e4-7b9a-7cc3-9c1e-1f0e2a3b4c5d"
SHA = "ab" * 32

# Each field: (values the contract accepts, values it may not); an op mostly of good values with a few
# bad ones, so both paths get to read whole ops and to disagree on single fields.
UUIDS = (st.uuids().map(str) | st.sampled_from([UUID, UUID.upper(), UUID.replace("-", ""), "{" + UUID + "}"]),
         st.sampled_from(["urn:uuid:" + UUID, "not-a-uuid", "", UUID[:-1], UUID + "0"]))
TIMES = (st.sampled_from(["2026-11-27T10:00:00+08:00", "2026-11-27T02:00:00Z", "2026-11-27T02:00:00z",
                          "2026-11-27 10:00:00+08:00", "2026-11-27T10:00:00.123456789+08:00",
                          "2026-11-27T10:00+08:00", " 2026-11-27T10:00:00+08:00 ", "2026-11-27T10:00:00+0800",
                          "2000-01-01T00:00:00+00:00", "2200-12-31T23:59:59+00:00"]),
         st.sampled_from(["2026-11-27T10:00:00", "1999-12-31T23:59:59+00:00", "2201-01-01T00:00:00+00:00",
                          "2026-11-27T10:00:60+08:00", "2026-13-01T00:00:00+00:00", "yesterday", "x" * 70,
                          "2026-11-27T10:00:00." + "1" * 50 + "+08:00"]))
TEXTS = (st.sampled_from(["", "垃圾满溢", "x" * 2000, "  "]), st.just("x" * 2001))


def number(low: float, high: float) -> tuple[Any, Any]:
    return (st.floats(low, high) | st.integers(int(low), int(high)),
            st.sampled_from([low - 0.001, high + 1, True, 10**400, "1"]))


def choice(good: list[str], bad: list[Any]) -> tuple[Any, Any]:
    return st.sampled_from(good), st.sampled_from(bad)


PHOTOS = (st.lists(st.sampled_from([SHA, SHA.upper(), "cd" * 32]), max_size=4),
          st.lists(st.sampled_from([SHA, "ab" * 31, "zz" * 32, 7]), min_size=1, max_size=3) | st.just([SHA] * 21))
ANSWER = st.fixed_dictionaries({"check_id": st.sampled_from(["secure", "x" * 64]), "ok": st.booleans()},
                               optional={"note": st.sampled_from(["", "门没锁"]), "extra": st.integers()})
BAD_ANSWER = st.fixed_dictionaries({"check_id": st.sampled_from(["", "x" * 65, 3]), "ok": st.sampled_from([1, None])})
ANSWERS = (st.lists(ANSWER, max_size=3),
           st.lists(BAD_ANSWER, min_size=1, max_size=2) | st.sampled_from([{}, "ok"])
           | st.lists(st.fixed_dictionaries({"check_id": st.just("a"), "ok": st.just(True),
                                             "note": st.just("x" * 2001)}), min_size=1, max_size=1))
LAT, LNG, ACCURACY = number(-90, 90), number(-180, 180), number(0, 100_000)

# type -> field -> (good, bad, required)
FIELDS: dict[str, dict[str, tuple[Any, Any, bool]]] = {
    "round.start": {"round_id": (*UUIDS, True), "template_id": (*UUIDS, True), "started_at": (*TIMES, True)},
    "visit.record": {"visit_id": (*UUIDS, True), "round_id": (*UUIDS, True), "checkpoint_id": (*UUIDS, True),
                     "proof": (*choice(["qr", "code", "none"], ["QR", ""]), True), "secret": (*TEXTS, False),
                     "scanned_at": (*TIMES, True), "lat": (*LAT, False), "lng": (*LNG, False),
                     "accuracy_m": (*ACCURACY, False), "answers": (*ANSWERS, True), "photos": (*PHOTOS, False)},
    "round.finish": {"round_id": (*UUIDS, True), "finished_at": (*TIMES, True)},
    "finding.report": {"finding_id": (*UUIDS, True), "site_id": (*UUIDS, True),
                       "category": (*choice(["garbage", "dead_tree", "hazard"], ["unknown", ""]), True),
                       "severity": (*choice(["normal", "emergency"], ["urgent"]), True),
                       "checkpoint_id": (*UUIDS, False), "zone_id": (*UUIDS, False), "visit_id": (*UUIDS, False),
                       "note": (*TEXTS, False), "photos": (*PHOTOS, False), "lat": (*LAT, False),
                       "lng": (*LNG, False)},
    "rect.transition": {"rect_id": (*UUIDS, True), "action": (*choice(["start", "fix"], ["fly"]), True)},
}
JUNK = st.none() | st.integers() | st.booleans() | st.lists(st.integers(), max_size=2) | st.text(max_size=4)


@st.composite
def ops(draw: st.DrawFn) -> Any:
    """An op of good values where, now and then, one is bad, null, junk or missing."""
    op_type = draw(st.sampled_from([*FIELDS, *FIELDS, "round.pause", 5]))
    data: Any = {}
    for name, (good, bad, required) in FIELDS.get(op_type, FIELDS["round.finish"]).items():
        if not required and draw(st.integers(0, 2)) == 0:
            continue
        roll = draw(st.integers(0, 39))
        if roll == 0:
            data[name] = draw(bad)
        elif roll == 1:
            data[name] = draw(JUNK)
        elif roll != 2:  # 2: left out
            data[name] = draw(good)
    if draw(st.integers(0, 39)) == 0:
        data = draw(JUNK)
    op = {"op_id": draw(UUIDS[0]), "type": op_type, "at": draw(TIMES[0]), "data": data}
    if draw(st.integers(0, 19)) == 0:
        op[draw(st.sampled_from(["op_id", "at"]))] = draw(st.sampled_from([UUIDS[1], TIMES[1], JUNK]).flatmap(lambda s: s))
    return op


def contract_reading(op: Any) -> Any:
    try:
        return parse_op(op)
    except Rejection:
        return None


def same(fast: Any, slow: Any) -> bool:
    return (fast.op_id, fast.type, fast.at, fast.data) == (slow.op_id, slow.type, slow.at, slow.data)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops())
def test_the_fast_reading_of_an_op_is_the_contracts_or_none(op):
    text = json.dumps(op)
    fast = read_op(msgspec.Raw(text.encode()))
    slow = contract_reading(json.loads(text))
    if fast is None:
        return
    assert slow is not None, f"the fast path accepted an op the contract rejects: {text[:300]}"
    assert same(fast, slow)
    # What is stored for the op is the data as the phone sent it.
    assert json.loads(fast.data_json) == op["data"]


def test_the_phones_own_ops_take_the_fast_path():
    phone = Phone(http=None, username="guard1")
    round_id = phone.start_round(UUID)
    phone.visit(round_id, UUID, proof="qr", secret="XJ-1", answers=[{"check_id": "secure", "ok": False, "note": "门没锁"}],
                photos=[SHA])
    phone.report(UUID, "garbage", note="垃圾满溢", photos=[SHA])
    phone.finish_round(round_id)
    for op in phone.outbox:
        fast = read_op(msgspec.Raw(json.dumps(op).encode()))
        assert fast is not None, op["type"]
        assert same(fast, parse_op(op))


def envelope(ops: list[Any], **extra: Any) -> dict[str, Any]:
    return {"device_id": "phone-1", "device_time": "2026-11-27T10:00:00+08:00", "ops": ops, **extra}


@pytest.mark.parametrize("body", [
    json.dumps(envelope([])).encode(),
    json.dumps(envelope([{"type": "x"}, 5, None])).encode(),
    json.dumps(envelope([], device_id="x" * 100)).encode(),
    json.dumps(envelope([], device_id=5)).encode(),
    json.dumps(envelope([], device_time="yesterday")).encode(),
    json.dumps(envelope([], device_time=None)).encode(),
    json.dumps(envelope([{}] * (MAX_OPS + 1))).encode(),
    json.dumps({"ops": {}}).encode(),
    json.dumps([1]).encode(),
    b"{not json",
    b"\xef\xbb\xbf" + json.dumps(envelope([])).encode(),
    json.dumps(envelope([])).encode("utf-16"),
    b'{"device_time": "2026-11-27T10:00:00+08:00", "ops": [NaN], "device_id": "\xff"}',
], ids=["empty", "junk ops", "long device id", "numeric device id", "bad time", "null time", "too many",
        "ops object", "array", "not json", "bom", "utf-16", "bad utf-8"])
def test_the_fast_reading_of_a_push_body_is_the_contracts_or_none(body):
    fast = read_envelope(body)
    try:
        slow = parse_envelope(body)
    except AppError as error:
        assert fast is None, f"the fast path read a body the contract answers {error.code}"
        return
    if fast is not None:
        assert (fast.device_id, fast.device_time) == (slow.device_id, slow.device_time)
        assert [json.loads(bytes(op)) for op in fast.ops] == slow.ops


def test_an_op_the_fast_path_leaves_gets_the_contracts_reason(client, make_site):
    """A push body read by the fast path still answers a bad op with parse_op's code and reason."""
    site = make_site(roles=("guard",))
    phone = Phone(client, site["users"]["guard"].username).login()
    bad = {"op_id": str(uuid.uuid4()), "type": "round.start", "at": phone.stamp(),
           "data": {"round_id": "nope", "template_id": UUID, "started_at": phone.stamp()}}
    response = client.post("/sync/push", content=json.dumps(envelope([bad])).encode(),
                           headers={"Authorization": f"Bearer {phone.token}", "Content-Type": "application/json"})
    result = response.json()["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "invalid")
    assert "round_id" in result["reason"]
