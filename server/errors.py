"""One error hierarchy for services, and one mapping to HTTP (JSON under /api and /sync, HTML elsewhere)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A failure a person can understand: a stable `code` and a readable `reason`."""

    status_code = 400
    code = "invalid"

    def __init__(self, reason: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        if code:
            self.code = code
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, **self.extra}


class Invalid(AppError):
    status_code = 400
    code = "invalid"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class TooLarge(AppError):
    status_code = 413
    code = "too_large"


class UnsupportedType(AppError):
    status_code = 415
    code = "unsupported_type"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
