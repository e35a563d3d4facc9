"""Who may use /admin: admins only, and each admin only on the sites they belong to."""

from __future__ import annotations

from typing import Any

from litestar import Request

from server.errors import Forbidden
from server.pages import provide_user
from server.sites.services import get_site
from server.sites.tables import Site
from server.staff.services import require_site, site_ids_of
from server.staff.tables import Staff

ADMIN_ROLES = ("admin",)


async def provide_admin(request: Request) -> Staff:
    """The logged-in admin; anyone else logged in gets 403, nobody logged in goes to the login page."""
    user = await provide_user(request)
    if user.role != "admin":
        raise Forbidden("只有管理员可以进入管理页面 / only admins may use administration")
    return user


async def admin_site(admin: Staff, site_id: Any) -> Site:
    """A site this admin belongs to (404 otherwise, through the one access rule)."""
    await require_site(admin, site_id, ADMIN_ROLES)
    return await get_site(site_id)


async def admin_sites(admin: Staff) -> list[Site]:
    """The sites this admin belongs to, by name."""
    ids = await site_ids_of(admin.id)
    if not ids:
        return []
    return await Site.objects().where(Site.id.is_in(ids)).order_by(Site.name)


async def admin_site_ids(admin: Staff) -> set[Any]:
    return set(await site_ids_of(admin.id))


async def shares_a_site(admin: Staff, staff_id: Any) -> bool:
    """Whether a staff member is in one of the admin's sites, or in no site at all (not yet placed)."""
    theirs = set(await site_ids_of(staff_id))
    return not theirs or bool(theirs & await admin_site_ids(admin))
