"""Push keys and subscriptions, the inbox page and its unread badge, and marking notifications read."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Template
from msgspec import Struct

from server.errors import Unauthorized
from server.notify import inbox, subscriptions
from server.notify.vapid import public_key
from server.pages import redirect
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


def _layout(user: Staff) -> str:
    return "console/base.html" if user.role in SUPERVISOR_ROLES else "notify/plain.html"


class PushApi(Controller):
    """Web Push for browsers with a session (the console); phones subscribe through the push.subscribe op."""

    path = "/api/push"

    @get("/key")
    async def key(self) -> dict[str, str]:
        """The server's VAPID public key, the applicationServerKey for PushManager.subscribe."""
        return {"public_key": public_key()}

    @post("/subscribe", status_code=200)
    async def subscribe(self, user: NamedDependency[Staff], data: SubscriptionIn) -> dict[str, Any]:
        """Store this browser's subscription (sending it again changes nothing)."""
        await subscriptions.subscribe(user.id, data.endpoint, data.keys.p256dh, data.keys.auth)
        return {"subscribed": True, "devices": len(await subscriptions.devices_of(user.id))}

    @post("/unsubscribe", status_code=200)
    async def unsubscribe(self, user: NamedDependency[Staff], data: EndpointIn) -> dict[str, Any]:
        removed = await subscriptions.unsubscribe(user.id, data.endpoint)
        return {"removed": removed, "devices": len(await subscriptions.devices_of(user.id))}


class NotificationsApi(Controller):
    path = "/api/notifications"

    @get("/")
    async def list_mine(self, user: NamedDependency[Staff]) -> dict[str, Any]:
        """The newest notifications and the unread count, for pages that poll while online."""
        rows = await inbox.list_for(user.id)
        return {"unread": await inbox.unread_count(user.id), "items": [inbox.as_pull(r) for r in rows]}

    @post("/read", status_code=200, exclude_from_csrf=True)
    async def read_from_device(self, request: Request, data: ReadIn) -> dict[str, Any]:
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
    async def badge(self, user: NamedDependency[Staff]) -> Template:
        """The unread count alone, for htmx to poll into any page's header."""
        return Template(template_name="notify/_badge.html", context={"unread": await inbox.unread_count(user.id)})

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
