"""What the OpenAPI schema says about errors and raw request bodies, so /schema tells the truth.

Every error under /api, /sync and /photos is `{"code", "reason", ...}` (server/app.py
maps them), not Litestar's default `{"status_code", "detail"}`; handlers list the
statuses they can answer with `responses=error_responses(...)`. Handlers that read
their body themselves (the push envelope, photo bytes: size before content) name
it with `operation_class=with_request_body(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema


class ErrorBody(TypedDict):
    """An error answer: a stable `code` and a reason a person can read (more fields may follow)."""

    code: str
    reason: str


# Why each status is answered; the codes are those of shared/SYNC.md and server/errors.py.
ERROR_DESCRIPTIONS = {
    400: "invalid input (`invalid`, `bad_envelope`, `hash_mismatch`, ...)",
    401: "not logged in (`login_required`), wrong password (`bad_credentials`), "
         "unknown or expired device token (`bad_token`, `token_expired`)",
    403: "the role may not do this (`forbidden`) or the CSRF token is missing (`csrf`)",
    404: "no such thing, or not in the caller's sites (`not_found`)",
    409: "the state moved on (`conflict`)",
    413: "body too large (`too_large`)",
    415: "unsupported Content-Type (`unsupported_type`)",
    422: "the body is not a usable image (`bad_image`)",
    429: "too many failed logins (`rate_limited`)",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a handler: the JSON error body under each status it can answer."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=ERROR_DESCRIPTIONS[status],
                             generate_examples=False)
        for status in statuses
    }


def with_request_body(content: dict[str, Schema], description: str) -> type[Operation]:
    """An Operation class that documents a request body the handler reads itself.

    Declaring `data` would make Litestar parse the body before the handler can
    judge its size first, as the sync contract asks.
    """
    body = RequestBody(content={media: OpenAPIMediaType(schema=schema) for media, schema in content.items()},
                       description=description, required=True)

    @dataclass
    class OperationWithBody(Operation):
        def __post_init__(self) -> None:
            if self.request_body is None:
                self.request_body = body

    return OperationWithBody


def binary() -> Schema:
    return Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, properties=properties, required=required, **extra)
