"""Property-based fuzzing of /api, /sync and /photos against the app's own OpenAPI schema (schemathesis).

The real server runs as a process of its own (its own data directory, so the
fuzzer's failed logins and junk ops touch no other test). Every generated
request, valid or deliberately invalid, must get an answer that is not a 5xx
and that the schema describes: a documented status, its content type, and a
body matching its schema (errors are `{"code", "reason"}`).
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import DEMO_PASSWORD, LiveServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
FUZZED_PATHS = r"^/(api|sync|photos)/"


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-fuzz-"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fuzz_headers(fuzz_server: LiveServer) -> dict[str, str]:
    """A supervisor's device token and browser session (with its CSRF token) on every request.

    Endpoints for phones read the bearer token, those for the console the
    session; sending both lets every operation reach its handler.
    """
    with httpx.Client(base_url=fuzz_server.url) as http:
        device = http.post("/api/auth/device", json={"username": "supervisor1", "password": DEMO_PASSWORD,
                                                     "device_id": str(uuid.uuid4()), "device_name": "fuzzer"})
        assert device.status_code == 200, device.text
        form = http.get("/login").text
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form).group(1)
        login = http.post("/login", data={"username": "supervisor1", "password": DEMO_PASSWORD, "_csrf_token": csrf})
        assert login.status_code in (200, 303), login.text
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    return {"Authorization": f"Bearer {device.json()['token']}", "Cookie": cookies, "x-csrftoken": csrf}


EXAMPLES = int(os.environ.get("XUNJIAN_FUZZ_EXAMPLES", "20"))  # per operation and per mode


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], sent: list[str]) -> None:
    # derandomize: the same cases on every run, so a failure is reproducible; no
    # shrinking, which would replay dozens of requests against the live server.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        sent.append(f"{case.method} {response.status_code}")

    run()


def test_api_answers_as_its_schema_says(fuzz_server: LiveServer, fuzz_headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/schema/openapi.json").include(path_regex=FUZZED_PATHS)
    failures: list[str] = []
    sent: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, fuzz_headers, sent)
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, or only free-form strings): positive only.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except FailureGroup as group:  # collect every failing operation, then report them all
                failures += [f"{operation.label} ({mode.value}): {str(exc)[:800]}" for exc in group.exceptions]
            except Exception as exc:  # noqa: BLE001 - e.g. a check failing outside a group, or a 5xx
                failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:800]}")
    statuses = Counter(line.split()[1] for line in sent)
    print(f"fuzzed {len(operations)} operations with {len(sent)} requests; statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)


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
