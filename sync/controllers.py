"""The sync endpoints (thin): device-token auth, then one call into sync.pull or sync.push."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromQuery

from server.errors import Unauthorized
from server.openapi import error_responses, with_request_body
from server.staff.auth import DeviceAuth, device_user
from sync import push as push_service
from sync.ops import MAX_BYTES, check_size, parse_envelope
from sync.pull import pull as pull_snapshot
from sync.schemas import PUSH_ENVELOPE, PullReply, PushReply
from sync.shapes import read_envelope


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def bearer(request: Request) -> DeviceAuth:
    """The device token's owner: 401 bad_token (unknown) or token_expired (expired or revoked)."""
    return await device_user(bearer_token(request))


class SyncController(Controller):
    path = "/sync"

    @get("/pull", responses=error_responses(400, 401))
    async def pull(self, request: Request, since: FromQuery[str | None] = None) -> PullReply:
        """A full snapshot (no `since`, or a cursor the server cannot use) or the changes since the cursor."""
        auth = await bearer(request)
        return await pull_snapshot(auth.staff, since, auth.token)

    # Litestar's own limit is set a little above ours so that we, not it, answer with the contract's reason.
    @post("/push", status_code=200, request_max_body_size=MAX_BYTES + 1,
          responses=error_responses(400, 401, 413),
          operation_class=with_request_body({"application/json": PUSH_ENVELOPE},
                                            f"the outbox batch: at most {MAX_BYTES} bytes"))
    async def push(self, request: Request) -> PushReply:
        """Apply a batch of outbox operations; the size is judged before the token, the token before the content."""
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("请登录 / log in first", code="bad_token")
        check_size(request.content_length)
        try:
            body = await request.body()
        except RequestEntityTooLarge:
            check_size(MAX_BYTES + 1)
            raise
        auth = await device_user(token, touch=False)  # the push stamps the token's use with its sync
        return await push_service.push(auth, read_envelope(body) or parse_envelope(body))
