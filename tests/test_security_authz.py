"""The authorization matrix: every route of the app, for every role and for nobody logged in,
on the person's own site and on another site, against a table of who may reach what.

A route the table does not cover fails the test, so a new route needs its rule
before it can ship. Scopes for routes that name objects:
- own: the site and objects of the caller's own site (or the caller's own notification);
- other: another site's site and objects;
- mixed: the first object of the caller's site, the rest from another site
  (e.g. /console/sites/<own>/rectifications/<other site's>): an id from elsewhere
  must not ride on an allowed site.
Forms are sent filled with junk, so nothing is changed and validation cannot
answer before the access check does. Outcomes: ok (reached the handler's work: 2xx, 3xx, 400, 409, 415, 422),
login (401, or a redirect to /login?next=), 403, 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient

from conftest import run
from security_support import (ANON, OBJECT_PARAMS, ROLES, SiteWorld, app_routes, fill, params_for, path_params,
                              site_world)

PUBLIC = (*ROLES, ANON)
SIGNED_IN = ROLES
CONSOLE = ("supervisor", "admin")
ADMIN = ("admin",)

OK, LOGIN, FORBIDDEN, HIDDEN = "ok", "login", "403", "404"


@dataclass(frozen=True)
class Rule:
    """Who reaches a route; everyone else logged in gets 403, nobody logged in the login answer."""

    allowed: tuple[str, ...]
    json: dict[str, Any] | None = None  # a JSON body of the right shape, else an empty form
    form: dict[str, str] = field(default_factory=dict)
    scoped: bool = True  # False: object parameters are not access-checked (e.g. content-addressed uploads)
    fresh_session: bool = False  # the request ends or replaces the session it is sent with
    missing: bool = False  # answers 404 to everyone (a catch-all)


# Forms are sent filled with junk: the answer for another site's object must be 404
# before any field is judged (a 400 would tell the id exists, or that scoping comes late).
JUNK_FORM = {name: "x" * 3000 for name in (
    "name", "direction", "label", "count", "level", "role", "kind", "username", "note", "category", "assignee",
    "due_at", "outcome", "action", "zone", "address", "timezone", "unit", "window_start", "lat", "lng")}


def envelope() -> dict[str, Any]:
    return {"device_id": "matrix", "device_time": datetime.now(timezone.utc).isoformat(), "ops": []}


SUBSCRIPTION = {"endpoint": "https://push.example.com/matrix", "keys": {"p256dh": "bad", "auth": "bad"}}

RULES: dict[tuple[str, str], Rule] = {
    # Public: the login page, the app shell (the person's data lives on the phone), static files.
    ("GET", "/"): Rule(PUBLIC),
    ("GET", "/healthz"): Rule(PUBLIC),
    ("GET", "/login"): Rule(PUBLIC),
    ("POST", "/login"): Rule(PUBLIC, form={"username": "{guard}", "password": "xunjian-demo"}, fresh_session=True),
    ("POST", "/logout"): Rule(PUBLIC, fresh_session=True),
    ("GET", "/lang/{language:str}"): Rule(PUBLIC),
    ("GET", "/app"): Rule(PUBLIC),
    ("GET", "/app/boot.json"): Rule(PUBLIC),  # translation catalogues and categories, the same for everyone
    ("GET", "/sw.js"): Rule(PUBLIC),
    ("GET", "/manifest.webmanifest"): Rule(PUBLIC),
    ("GET", "/static/{file_path:path}"): Rule(PUBLIC),
    ("HEAD", "/static/{file_path:path}"): Rule(PUBLIC),
    ("GET", "/schema"): Rule(PUBLIC),
    ("GET", "/schema/openapi.json"): Rule(PUBLIC),
    ("GET", "/schema/{path:str}"): Rule(PUBLIC, missing=True),
    ("GET", "/api/push/key"): Rule(PUBLIC),
    # An ended session gets an empty badge (htmx would otherwise paste the login page into the header).
    ("GET", "/notifications/badge"): Rule(PUBLIC),
    # Everyone logged in (a session or a device token), each on their own things.
    ("POST", "/api/auth/device"): Rule(SIGNED_IN, json={"device_id": "matrix-device", "device_name": "matrix"}),
    ("GET", "/api/me"): Rule(SIGNED_IN),
    ("GET", "/api/sites"): Rule(SIGNED_IN),
    ("GET", "/api/sites/{site_id:uuid}"): Rule(SIGNED_IN),
    ("POST", "/api/push/subscribe"): Rule(SIGNED_IN, json=SUBSCRIPTION),
    ("POST", "/api/push/unsubscribe"): Rule(SIGNED_IN, json={"endpoint": SUBSCRIPTION["endpoint"]}),
    ("GET", "/api/notifications"): Rule(SIGNED_IN),
    ("POST", "/api/notifications/read"): Rule(SIGNED_IN, json={"ids": []}),
    ("GET", "/notifications"): Rule(SIGNED_IN),
    ("POST", "/notifications/read"): Rule(SIGNED_IN),
    ("POST", "/notifications/muted"): Rule(SIGNED_IN),
    ("GET", "/notifications/{notification_id:str}/open"): Rule(SIGNED_IN),
    ("GET", "/sync/pull"): Rule(SIGNED_IN),
    ("POST", "/sync/push"): Rule(SIGNED_IN, json={}),  # filled with a fresh envelope per request
    # Photos are content-addressed: knowing a hash means having the photo, so upload and presence are global.
    ("HEAD", "/sync/photos/{sha256:str}"): Rule(SIGNED_IN, scoped=False),
    ("PUT", "/sync/photos/{sha256:str}"): Rule(SIGNED_IN, scoped=False),
    ("GET", "/photos/{sha256:str}"): Rule(SIGNED_IN),
}
CONSOLE_ROUTES = [
    ("GET", "/console"),
    ("GET", "/console/sites/{site_id:uuid}"),
    ("GET", "/console/sites/{site_id:uuid}/today"),
    ("GET", "/console/sites/{site_id:uuid}/review"),
    ("POST", "/console/sites/{site_id:uuid}/findings/{finding_id:uuid}/reviewed"),
    ("GET", "/console/sites/{site_id:uuid}/rounds/{round_id:uuid}"),
    ("GET", "/console/sites/{site_id:uuid}/goto/{record_type:str}/{record_id:uuid}"),
    ("GET", "/console/sites/{site_id:uuid}/rectifications/{rect_id:uuid}"),
    ("POST", "/console/sites/{site_id:uuid}/rectifications/{rect_id:uuid}/{action:str}"),
    ("GET", "/console/sites/{site_id:uuid}/reception"),
    ("POST", "/console/sites/{site_id:uuid}/reception"),
    ("GET", "/console/sites/{site_id:uuid}/logs/inspection"),
    ("GET", "/console/sites/{site_id:uuid}/logs/inspection.csv"),
    ("GET", "/console/sites/{site_id:uuid}/logs/rectifications"),
    ("GET", "/console/sites/{site_id:uuid}/logs/rectifications.csv"),
    ("GET", "/console/sites/{site_id:uuid}/logs/slots"),
    ("GET", "/console/sites/{site_id:uuid}/logs/slots.csv"),
    ("GET", "/console/sites/{site_id:uuid}/report"),
]
ADMIN_ROUTES = [
    ("GET", "/admin"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/sites"),
    ("POST", "/admin/sites"),
    ("GET", "/admin/sites/{site_id:uuid}"),
    ("POST", "/admin/sites/{site_id:uuid}"),
    ("POST", "/admin/sites/{site_id:uuid}/level"),
    ("POST", "/admin/sites/{site_id:uuid}/figures"),
    ("GET", "/admin/sites/{site_id:uuid}/checkpoints"),
    ("POST", "/admin/sites/{site_id:uuid}/checkpoints"),
    ("POST", "/admin/sites/{site_id:uuid}/zones"),
    ("GET", "/admin/sites/{site_id:uuid}/lights"),
    ("POST", "/admin/sites/{site_id:uuid}/lights"),
    ("GET", "/admin/sites/{site_id:uuid}/posters"),
    ("GET", "/admin/sites/{site_id:uuid}/templates"),
    ("POST", "/admin/sites/{site_id:uuid}/templates"),
    ("GET", "/admin/checkpoints/{cp_id:uuid}"),
    ("POST", "/admin/checkpoints/{cp_id:uuid}"),
    ("POST", "/admin/checkpoints/{cp_id:uuid}/move"),
    ("POST", "/admin/checkpoints/{cp_id:uuid}/poster"),
    ("POST", "/admin/checkpoints/{cp_id:uuid}/retire"),
    ("POST", "/admin/zones/{zone_id:uuid}"),
    ("POST", "/admin/zones/{zone_id:uuid}/move"),
    ("POST", "/admin/zones/{zone_id:uuid}/retire"),
    ("POST", "/admin/lights/{light_id:uuid}"),
    ("GET", "/admin/templates/{template_id:uuid}"),
    ("POST", "/admin/templates/{template_id:uuid}"),
    ("GET", "/admin/staff"),
    ("POST", "/admin/staff"),
    ("GET", "/admin/staff/{staff_id:uuid}"),
    ("POST", "/admin/staff/{staff_id:uuid}"),
    ("POST", "/admin/staff/{staff_id:uuid}/active"),
    ("POST", "/admin/staff/{staff_id:uuid}/password"),
    ("POST", "/admin/staff/{staff_id:uuid}/devices/{token_id:uuid}/logout"),
    ("GET", "/admin/import"),
    ("POST", "/admin/import/preview"),
    ("POST", "/admin/import/confirm"),
]
RULES.update({route: Rule(CONSOLE) for route in CONSOLE_ROUTES})
RULES.update({route: Rule(ADMIN) for route in ADMIN_ROUTES})


def expected(rule: Rule, role: str, scope: str) -> str:
    if rule.missing:
        return HIDDEN
    if role not in rule.allowed:
        # A role that may not use a page at all learns nothing about the object: 403 whatever it names.
        return LOGIN if role == ANON else FORBIDDEN
    return OK if scope == "own" else HIDDEN


def outcome(response: Any) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:300]}"
    assert "csrf" not in response.text.lower() or status != 403, "a CSRF refusal would hide the authorization answer"
    if status == 401 or (300 <= status < 400 and response.headers.get("location", "").startswith("/login?next=")):
        return LOGIN
    return {403: FORBIDDEN, 404: HIDDEN}.get(status, OK)


@dataclass
class Actor:
    role: str
    session: str = ""
    token: str = ""


@pytest.fixture(scope="module")
def world(app: Any) -> Iterator[tuple[TestClient, SiteWorld, SiteWorld, dict[str, Actor], str]]:
    from server.staff.auth import create_session, issue_device_token

    own, other = run(site_world()), run(site_world())
    actors = {ANON: Actor(ANON)}
    for role in ROLES:
        person = own.users[role]
        actors[role] = Actor(role, run(create_session(person)), run(issue_device_token(person, "matrix", "matrix")))
    with TestClient(app=app, base_url="http://testserver.local") as client:
        client.get("/login")
        csrf = client.cookies.get("xj_csrf")
        yield client, own, other, actors, csrf


def scopes_of(path: str, rule: Rule) -> tuple[str, ...]:
    objects = [name for name in path_params(path) if name in OBJECT_PARAMS]
    if not rule.scoped or not objects:
        return ("own",)
    return ("own", "other", "mixed") if len(objects) > 1 else ("own", "other")


def call(client: TestClient, method: str, path: str, rule: Rule, actor: Actor, own: SiteWorld, csrf: str) -> Any:
    from server.staff.auth import create_session

    session = actor.session
    if rule.fresh_session and actor.role != ANON:
        session = run(create_session(own.users[actor.role]))
    client.cookies.clear()
    headers = {"x-csrftoken": csrf}
    cookies = [f"xj_csrf={csrf}"]
    if actor.role != ANON:
        headers["Authorization"] = f"Bearer {actor.token}"
        cookies.append(f"xj_session={session}")
    headers["Cookie"] = "; ".join(cookies)
    kwargs: dict[str, Any] = {}
    if rule.json is not None:
        kwargs["json"] = envelope() if path == "/sync/push" else rule.json
    elif method in ("POST", "PUT"):
        form = {k: v.replace("{guard}", own.users["guard"].username) for k, v in rule.form.items()}
        kwargs["data"] = form or JUNK_FORM
    return client.request(method, path, headers=headers, follow_redirects=False, **kwargs)


def test_every_route_has_a_rule(app: Any) -> None:
    routes = set(app_routes(app))
    assert routes - RULES.keys() == set(), "routes without an authorization rule: add them to RULES"
    assert RULES.keys() - routes == set(), "rules for routes that no longer exist"


def test_authorization_matrix(app: Any, world: Any) -> None:
    client, own, other, actors, csrf = world
    wrong: list[str] = []
    requests = 0
    for method, path in app_routes(app):
        rule = RULES[(method, path)]
        for scope in scopes_of(path, rule):
            for role, actor in actors.items():
                concrete = fill(path, params_for(path, scope, role, own, other))
                response = call(client, method, concrete, rule, actor, own, csrf)
                requests += 1
                got, want = outcome(response), expected(rule, role, scope)
                if got != want:
                    wrong.append(f"{method} {concrete} as {role} ({scope}): got {got} ({response.status_code}), "
                                 f"expected {want}")
    print(f"authorization matrix: {requests} requests over {len(app_routes(app))} routes")
    assert not wrong, "\n".join(wrong)
