"""Property-based fuzzing of /api, /sync and /photos against the app's own OpenAPI schema (schemathesis).

Three generations per operation: schemathesis's coverage phase (boundary
values, missing or wrongly typed fields, HTTP methods the schema does not list,
which must be 405 with Allow), and Hypothesis fuzzing of valid and of invalid
data; operations naming a site or a photo get a fourth pass with real ids.
The real server runs as a process of its own (its own data directory, so the
fuzzer's failed logins and junk ops touch no other test). Every generated
request, valid or deliberately invalid, must get an answer that is not a 5xx
and that the schema describes: a documented status, its content type, and a
body matching its schema (errors are `{"code", "reason"}`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from conftest import DEMO_PASSWORD, LiveServer
from photo_samples import jpeg
from sync.ops import SCHEMAS as OP_FIELDS

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
FUZZED_PATHS = r"^/(api|sync|photos)/"


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-fuzz-"))).start()
    yield server
    server.stop()


@dataclass
class Caller:
    """Who the fuzzer is, and real ids of things that exist, so some cases get past the 404."""

    headers: dict[str, str]
    known: dict[str, str]  # path parameter -> an id the caller may read


@pytest.fixture(scope="module")
def caller(fuzz_server: LiveServer) -> Caller:
    """A supervisor's device token and browser session (with its CSRF token) on every request.

    Endpoints for phones read the bearer token, those for the console the
    session; sending both lets every operation reach its handler.
    """
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as http:
        device = http.post("/api/auth/device", json={"username": "supervisor1", "password": DEMO_PASSWORD,
                                                     "device_id": str(uuid.uuid4()), "device_name": "fuzzer"})
        assert device.status_code == 200, device.text
        token = device.json()["token"]
        form = http.get("/login").text
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form).group(1)
        login = http.post("/login", data={"username": "supervisor1", "password": DEMO_PASSWORD, "_csrf_token": csrf})
        assert login.status_code in (200, 303), login.text
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        photo = jpeg(seed=4242)
        digest = hashlib.sha256(photo).hexdigest()
        stored = http.put(f"/sync/photos/{digest}", content=photo,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"})
        assert stored.status_code == 201, stored.text
        site_id = device.json()["user"]["site_ids"][0]
    return Caller({"Authorization": f"Bearer {token}", "Cookie": cookies, "x-csrftoken": csrf},
                  {"site_id": site_id, "sha256": digest})


EXAMPLES = int(os.environ.get("XUNJIAN_FUZZ_EXAMPLES", "12"))  # per operation and per generation


def _fuzz(strategy: Any, headers: dict[str, str], sent: list[str]) -> None:
    # derandomize: the same cases on every run, so a failure is reproducible; no
    # shrinking, which would replay dozens of requests against the live server.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        sent.append(f"{case.method} {response.status_code}")

    run()


def _generations(schema: Any, operation: Any, caller: Caller) -> Iterator[tuple[str, Callable[[list[str]], None]]]:
    """Each way of making cases for one operation, as (name, run(sent))."""
    def coverage(sent: list[str]) -> None:
        # Boundary values, missing and wrong-typed fields, and methods the schema does not list (405 + Allow).
        for case in schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                               generation_config=schema.config.generation_for(
                                                   operation=operation, phase="coverage")):
            response = case.call_and_validate(headers=caller.headers, checks=[*CHECKS, unsupported_method],
                                              timeout=30)
            sent.append(f"{case.method} {response.status_code}")

    yield "coverage", coverage
    for mode in GenerationMode:
        yield mode.value, lambda sent, mode=mode: _fuzz(operation.as_strategy(mode), caller.headers, sent)
    known = {p.name: caller.known[p.name] for p in operation.path_parameters if p.name in caller.known}
    if known:
        yield "positive, real ids", lambda sent: _fuzz(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known), caller.headers, sent)


def test_api_answers_as_its_schema_says(fuzz_server: LiveServer, caller: Caller) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/schema/openapi.json").include(path_regex=FUZZED_PATHS)
    failures: list[str] = []
    sent: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    started = time.monotonic()
    for operation in operations:
        for name, generate in _generations(schema, operation, caller):
            try:
                generate(sent)
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, or only free-form strings): positive only.
                assert name == "negative", operation.label
            except FailureGroup as group:  # collect every failing operation, then report them all
                failures += [f"{operation.label} ({name}): {str(exc)[:800]}" for exc in group.exceptions]
            except Exception as exc:  # noqa: BLE001 - e.g. a check failing outside a group, or a 5xx
                failures.append(f"{operation.label} ({name}): {type(exc).__name__}: {str(exc)[:800]}")
    statuses = Counter(line.split()[1] for line in sent)
    print(f"fuzzed {len(operations)} operations with {len(sent)} requests in {time.monotonic() - started:.0f} s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)
    assert statuses["200"] > 50  # real ids and valid bodies got through, not only refusals


def test_every_fuzzed_operation_is_in_the_schema(fuzz_server: LiveServer) -> None:
    """The fuzzer sees what phones use: a handler left out of the schema would escape it."""
    paths = httpx.get(f"{fuzz_server.url}/schema/openapi.json").json()["paths"]
    operations = {(method.upper(), path) for path, item in paths.items() for method in item
                  if re.match(FUZZED_PATHS, path)}
    assert {("POST", "/api/auth/device"), ("GET", "/sync/pull"), ("POST", "/sync/push"),
            ("PUT", "/sync/photos/{sha256}"), ("HEAD", "/sync/photos/{sha256}"), ("GET", "/photos/{sha256}"),
            ("GET", "/api/sites/{site_id}"), ("POST", "/api/notifications/read")} <= operations
    push = paths["/sync/push"]["post"]
    assert push["requestBody"]["content"]["application/json"]["schema"]["required"] == ["device_time", "ops"]
    assert set(push["responses"]) >= {"200", "400", "401", "413"}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=600, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(op_type=st.sampled_from(sorted(OP_FIELDS)) | JSON, op_id=st.just(str(uuid.uuid4())) | JSON,
       at=st.just("2026-01-01T08:00:00+08:00") | JSON,
       data=st.dictionaries(st.sampled_from(sorted({f for fields in OP_FIELDS.values() for f in fields})), JSON,
                            max_size=8) | JSON)
def test_any_json_op_is_judged_never_raises(op_type: Any, op_id: Any, at: Any, data: Any) -> None:
    """The shape step of a push (sync.ops.parse_op) answers every JSON value with an Op or a Rejection."""
    from sync.ops import Rejection, parse_op

    try:
        parse_op({"op_id": op_id, "at": at, "type": op_type, "data": data})
    except Rejection as rejection:
        assert rejection.code in ("invalid", "unknown_type") and rejection.reason


def test_an_op_with_a_list_for_its_type_is_rejected_alone(client: Any) -> None:
    """Found by the fuzzer: `"type": []` made the whole push a 500; now only that op is rejected."""
    from conftest import device_token

    token = device_token(client, "guard1")
    now = "2026-01-01T08:00:00+08:00"
    ops = [{"op_id": str(uuid.uuid4()), "type": [], "at": now, "data": {}},
           {"op_id": str(uuid.uuid4()), "type": "push.subscribe", "at": now,
            "data": {"endpoint": "https://push.example.com/fuzz", "keys": {
                "p256dh": base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode().rstrip("="),
                "auth": base64.urlsafe_b64encode(b"\x02" * 16).decode().rstrip("=")}}}]
    response = client.post("/sync/push", headers={"Authorization": f"Bearer {token}"},
                           json={"device_id": "fuzz", "device_time": now, "ops": ops})
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == "rejected" and first["code"] == "unknown_type"
    assert second["op_id"] == ops[1]["op_id"] and second["status"] == "applied"  # its neighbour is not lost
