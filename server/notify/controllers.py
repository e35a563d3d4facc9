"""Push keys and subscriptions, the inbox page and its unread badge, and marking notifications read."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Template
from msgspec import Struct

from server.errors import Unauthorized
from server.notify import inbox, subscriptions
from server.notify.vapid import public_key
from server.openapi import error_responses
from server.pages import optional_user, redirect
from server.staff.auth import device_user
from server.staff.tables import SUPERVISOR_ROLES, Staff


class SubscriptionKeys(Struct):
    p256dh: str
    auth: str


class SubscriptionIn(Struct):
    """What the browser's PushSubscription.toJSON() gives (expirationTime is ignored)."""

    endpoint: str
    keys: SubscriptionKeys


class EndpointIn(Struct):
    endpoint: str


class ReadIn(Struct):
    ids: list[str] | None = None  # none: all of them


class PushKey(TypedDict):
    public_key: str


class Subscribed(TypedDict):
    subscribed: bool
    devices: int


class Unsubscribed(TypedDict):
    removed: int
    devices: int


class NotificationOut(TypedDict):
    id: str
    kind: str
    title: str
    body: str
    url: str
    created_at: str | None
    read: bool


class NotificationList(TypedDict):
    unread: int
    items: list[NotificationOut]


class MarkedRead(TypedDict):
    marked: int
    unread: int


def _layout(user: Staff) -> str:
    return "console/base.html" if user.role in SUPERVISOR_ROLES else "notify/plain.html"


class PushApi(Controller):
    """Web Push for browsers with a session (the console); phones subscribe through the push.subscribe op."""

    path = "/api/push"

    @get("/key")
    async def key(self) -> PushKey:
        """The server's VAPID public key, the applicationServerKey for PushManager.subscribe."""
        return {"public_key": public_key()}

    @post("/subscribe", status_code=200, responses=error_responses(400, 401, 403))
    async def subscribe(self, user: NamedDependency[Staff], data: JSONBody[SubscriptionIn]) -> Subscribed:
        """Store this browser's subscription (sending it again changes nothing)."""
        await subscriptions.subscribe(user.id, data.endpoint, data.keys.p256dh, data.keys.auth)
        return {"subscribed": True, "devices": len(await subscriptions.devices_of(user.id))}

    @post("/unsubscribe", status_code=200, responses=error_responses(400, 401, 403))
    async def unsubscribe(self, user: NamedDependency[Staff], data: JSONBody[EndpointIn]) -> Unsubscribed:
        removed = await subscriptions.unsubscribe(user.id, data.endpoint)
        return {"removed": removed, "devices": len(await subscriptions.devices_of(user.id))}


class NotificationsApi(Controller):
    path = "/api/notifications"

    @get("/", responses=error_responses(401))
    async def list_mine(self, user: NamedDependency[Staff]) -> NotificationList:
        """The newest notifications and the unread count, for pages that poll while online."""
        rows = await inbox.list_for(user.id)
        return {"unread": await inbox.unread_count(user.id), "items": [inbox.as_pull(r) for r in rows]}

    @post("/read", status_code=200, exclude_from_csrf=True, responses=error_responses(400, 401))
    async def read_from_device(self, request: Request, data: JSONBody[ReadIn]) -> MarkedRead:
        """The field app marks notifications read with its device token (no cookie, so no CSRF)."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Unauthorized("请登录 / log in first", code="bad_token")
        staff = (await device_user(header[7:].strip())).staff
        marked = await inbox.mark_read(staff.id, data.ids)
        return {"marked": marked, "unread": await inbox.unread_count(staff.id)}


class InboxController(Controller):
    path = "/notifications"
    include_in_schema = False

    @get("/")
    async def page(self, user: NamedDependency[Staff], saved: FromQuery[bool] = False) -> Template:
        return Template(template_name="notify/inbox.html", context={
            "layout": _layout(user), "user": user, "items": await inbox.list_for(user.id),
            "unread": await inbox.unread_count(user.id), "kinds": inbox.MUTABLE_KINDS,
            "muted": set(inbox.json_value(user.muted, [])), "saved": saved,
        })

    @get("/badge")
    async def badge(self, request: Request) -> Template:
        """The unread count alone, for htmx to poll into any page's header.

        A session that ended gets an empty badge rather than the login page,
        which htmx would otherwise paste into the header.
        """
        user = await optional_user(request)
        unread = await inbox.unread_count(user.id) if user is not None else 0
        return Template(template_name="notify/_badge.html", context={"unread": unread})

    @get("/{notification_id:str}/open")
    async def open(self, user: NamedDependency[Staff], notification_id: FromPath[str]) -> Any:
        """Follow a notification from the list: it is read now."""
        return redirect(await inbox.open_notification(user.id, notification_id))

    @post("/read", status_code=303)
    async def read_all(self, user: NamedDependency[Staff]) -> Any:
        await inbox.mark_read(user.id)
        return redirect("/notifications")

    @post("/muted", status_code=303)
    async def muted(
        self, user: NamedDependency[Staff],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Any:
        """Save which kinds this person does not want pushed (ticked boxes named `mute`)."""
        chosen = data.get("mute", [])
        await inbox.set_muted(user.id, [chosen] if isinstance(chosen, str) else list(chosen))
        return redirect("/notifications?saved=1")
