"""Staff accounts, their sites, and the one rule of who may act where."""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from server.changes import next_position
from server.db import write_transaction
from server.errors import Forbidden, Invalid, NotFound
from server.staff.auth import hash_password, now, revoke_device_tokens
from server.staff.tables import FIELD_ROLES, ROLES, SUPERVISOR_ROLES, Staff, StaffSite, WebSession

MIN_PASSWORD_LENGTH = 8


async def create_staff(username: str, name: str, role: str, password: str,
                       site_ids: Iterable[Any] = (), language: str = "") -> Staff:
    username = username.strip()
    if not username or len(username) > 64:
        raise Invalid("用户名不能为空 / username is required")
    if role not in ROLES:
        raise Invalid(f"未知的角色 / unknown role: {role}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"密码至少{MIN_PASSWORD_LENGTH}位 / password needs at least {MIN_PASSWORD_LENGTH} characters")
    if await Staff.exists().where(Staff.username == username):
        raise Invalid("用户名已存在 / username already taken", code="duplicate")
    async with write_transaction():
        seq = await next_position()
        staff = Staff(username=username, name=name or username, role=role,
                      password_hash=hash_password(password), language=language, seq=seq, sites_seq=seq)
        await staff.save()
        site_rows = [StaffSite(staff=staff.id, site=s) for s in site_ids]
        if site_rows:
            await StaffSite.insert(*site_rows)
    return staff


async def site_ids_of(staff_id: Any, among: Iterable[Any] | None = None) -> list[uuid.UUID]:
    """The one rule of site membership: the sites this person belongs to (only those `among`, when given).

    Everything that asks "is this person of this site?" comes here: `require_site`,
    `is_active_field_member`, the sync push's snapshot, the pull, the console and admin.
    """
    query = StaffSite.select(StaffSite.site).where(StaffSite.staff == staff_id)
    if among is not None:
        wanted = [s for s in among if s is not None]
        if not wanted:
            return []
        query = query.where(StaffSite.site.is_in(wanted))
    return [r["site"] for r in await query]


def is_field_member(staff: Staff | None, member_of: Iterable[Any], site_id: Any) -> bool:
    """Whether this person may be given work on this site: active field staff who belong to it (pure)."""
    return staff is not None and staff.active and staff.role in FIELD_ROLES and site_id in set(member_of)


async def is_active_field_member(staff_id: Any, site_id: Any) -> bool:
    """`is_field_member` with the person and their membership read from the database."""
    staff = await Staff.objects().where(Staff.id == staff_id).first()
    return staff is not None and is_field_member(staff, await site_ids_of(staff.id, [site_id]), site_id)


async def set_active(staff_id: Any, active: bool) -> None:
    """Deactivating someone ends their sessions and revokes every device token at once."""
    async with write_transaction():
        seq = await next_position()
        await Staff.update({Staff.active: active, Staff.seq: seq}).where(Staff.id == staff_id)
        if not active:
            await WebSession.delete().where(WebSession.staff == staff_id)
    if not active:
        await revoke_device_tokens(staff_id)


async def set_password(staff_id: Any, password: str) -> None:
    """A new password ends every session and device token the person had."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"密码至少{MIN_PASSWORD_LENGTH}位 / password needs at least {MIN_PASSWORD_LENGTH} characters")
    async with write_transaction():
        await Staff.update({Staff.password_hash: hash_password(password), Staff.password_changed_at: now()}).where(
            Staff.id == staff_id)
        await WebSession.delete().where(WebSession.staff == staff_id)
    await revoke_device_tokens(staff_id)


def is_supervisor(staff: Staff) -> bool:
    return staff.role in SUPERVISOR_ROLES


def is_field(staff: Staff) -> bool:
    return staff.role in FIELD_ROLES


def check_site(staff: Staff, member_of: Iterable[Any], site_id: Any, roles: Iterable[str] | None = None) -> None:
    """Whether `staff`, a member of the sites `member_of`, may act on `site_id` with their role (pure).

    Someone outside the site gets 404 (the site's existence is not theirs to
    learn); a member whose role may not do this gets 403.
    """
    if site_id is None or site_id not in set(member_of):
        raise NotFound("没有这个小区 / no such site")
    if roles is not None and staff.role not in tuple(roles):
        raise Forbidden("您的角色无权进行此操作 / your role may not do this")


async def require_site(staff: Staff, site_id: Any, roles: Iterable[str] | None = None) -> None:
    """`check_site` with the person's membership read from the database."""
    check_site(staff, await site_ids_of(staff.id, [site_id]), site_id, roles)
