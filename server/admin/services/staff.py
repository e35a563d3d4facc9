"""Staff as admins manage them: accounts, role and sites, passwords, deactivation and devices."""

from __future__ import annotations

from typing import Any

from server.admin.access import admin_site_ids, admin_sites, shares_a_site
from server.admin.services import audit
from server.changes import next_position, record_deletion
from server.db import write_transaction
from server.errors import Conflict, Invalid, NotFound
from server.staff import services as staff_services
from server.staff.auth import revoke_device_tokens
from server.staff.tables import ROLES, DeviceToken, Staff, StaffSite, WebSession

LANGUAGES = ("", "zh-CN", "en")


async def listing(admin: Staff, site_id: Any = None, show_inactive: bool = True) -> dict[str, Any]:
    """Staff of the admin's sites (or of one of them), plus anyone not placed on a site yet."""
    sites = await admin_sites(admin)
    mine = {s.id for s in sites}
    memberships = await StaffSite.select(StaffSite.staff, StaffSite.site).order_by(StaffSite.staff)
    sites_of: dict[Any, list[Any]] = {}
    for row in memberships:
        sites_of.setdefault(row["staff"], []).append(row["site"])
    people = await Staff.objects().order_by(Staff.role).order_by(Staff.username)
    names = {s.id: s.name for s in sites}
    rows = []
    for person in people:
        theirs = sites_of.get(person.id, [])
        if theirs and not set(theirs) & mine:
            continue
        if site_id is not None and site_id not in theirs:
            continue
        if not show_inactive and not person.active:
            continue
        rows.append({"staff": person, "sites": [names[s] for s in theirs if s in names]})
    return {"rows": rows, "sites": sites, "roles": ROLES}


async def _person(admin: Staff, staff_id: Any) -> Staff:
    person = await Staff.objects().where(Staff.id == staff_id).first()
    if person is None or not await shares_a_site(admin, person.id):
        raise NotFound("没有这个员工 / no such staff member")
    return person


async def detail(admin: Staff, staff_id: Any) -> dict[str, Any]:
    person = await _person(admin, staff_id)
    devices = await DeviceToken.objects().where(DeviceToken.staff == person.id).order_by(
        DeviceToken.last_used_at, ascending=False)
    return {"person": person, "site_ids": set(await staff_services.site_ids_of(person.id)),
            "sites": await admin_sites(admin), "roles": ROLES, "languages": LANGUAGES, "devices": devices,
            "sessions": await WebSession.count().where(WebSession.staff == person.id)}


async def _allowed_sites(admin: Staff, site_ids: list[Any]) -> list[Any]:
    mine = await admin_site_ids(admin)
    if any(s not in mine for s in site_ids):
        raise Invalid("只能分配到您管理的小区 / you can only assign your own sites", field="sites")
    return list(dict.fromkeys(site_ids))


def _check(name: str, role: str, phone: str, language: str) -> None:
    if not name:
        raise Invalid("请填写姓名 / name is required", field="name")
    if role not in ROLES:
        raise Invalid(f"未知的角色 / unknown role: {role}", field="role")
    if len(phone) > 32:
        raise Invalid("电话太长 / phone number too long", field="phone")
    if language not in LANGUAGES:
        raise Invalid("未知的语言 / unknown language", field="language")


async def create(admin: Staff, username: str, name: str, role: str, password: str, phone: str,
                 language: str, site_ids: list[Any]) -> Staff:
    _check(name, role, phone, language)
    site_ids = await _allowed_sites(admin, site_ids)
    if not site_ids:
        raise Invalid("请至少选择一个小区 / choose at least one site", field="sites")
    async with write_transaction():
        person = await staff_services.create_staff(username, name, role, password, site_ids, language)
        if phone:
            await Staff.update({Staff.phone: phone}).where(Staff.id == person.id)
        names = {s.id: s.name for s in await admin_sites(admin)}
        await audit.record(admin, "staff.create", None, person.username,
                           {"role": role, "sites": [names[s] for s in site_ids]})
    return person


async def update(admin: Staff, staff_id: Any, name: str, role: str, phone: str, language: str,
                 site_ids: list[Any]) -> Staff:
    """Name, phone, language, role and sites. A new role or new sites change what the person's phone
    must hold (templates are per role, everything is per site): their next pull is a full snapshot."""
    person = await _person(admin, staff_id)
    _check(name, role, phone, language)
    site_ids = await _allowed_sites(admin, site_ids)
    mine = await admin_site_ids(admin)
    before = set(await staff_services.site_ids_of(person.id))
    # Sites outside this admin's reach are neither shown nor touched.
    after = (before - mine) | set(site_ids)
    if person.id == admin.id and role != "admin":
        raise Conflict("不能修改自己的管理员角色 / you cannot take away your own admin role", code="self")
    if person.id == admin.id and not (after & mine):
        raise Conflict("不能把自己移出所有小区 / you cannot remove yourself from all your sites", code="self")
    changes: dict[str, Any] = {k: [old, new] for k, old, new in (
        ("name", person.name, name), ("role", person.role, role), ("phone", person.phone, phone),
        ("language", person.language, language)) if old != new}
    added, removed = after - before, before - after
    if added or removed:
        names = {s.id: s.name for s in await admin_sites(admin)}
        changes["sites_added"] = sorted(names.get(s, str(s)) for s in added)
        changes["sites_removed"] = sorted(names.get(s, str(s)) for s in removed)
    if not changes:
        return person
    async with write_transaction():
        seq = await next_position()
        values: dict[Any, Any] = {Staff.name: name, Staff.role: role, Staff.phone: phone, Staff.language: language,
                                  Staff.seq: seq}
        if added or removed or role != person.role:
            values[Staff.sites_seq] = seq
        await Staff.update(values).where(Staff.id == person.id)
        if removed:
            await StaffSite.delete().where((StaffSite.staff == person.id) & StaffSite.site.is_in(list(removed)))
            for site_id in removed:
                # Colleagues' phones learn that this person left the site.
                await record_deletion("staff", person.id, site_id, seq)
        if added:
            await StaffSite.insert(*[StaffSite(staff=person.id, site=s) for s in added])
        await audit.record(admin, "staff.update", None, person.username, changes)
    return person


async def reset_password(admin: Staff, staff_id: Any, password: str) -> None:
    """A new password; every browser session and device token of the person ends."""
    person = await _person(admin, staff_id)
    async with write_transaction():
        await staff_services.set_password(person.id, password)
        await audit.record(admin, "staff.password_reset", None, person.username)


async def set_active(admin: Staff, staff_id: Any, active: bool) -> None:
    """Deactivating ends the person's sessions and revokes their device tokens at once."""
    person = await _person(admin, staff_id)
    if person.id == admin.id and not active:
        raise Conflict("不能停用自己的账号 / you cannot deactivate yourself", code="self")
    if person.active == active:
        return
    async with write_transaction():
        await staff_services.set_active(person.id, active)
        if not active:
            seq = await next_position()
            for site_id in await staff_services.site_ids_of(person.id):
                await record_deletion("staff", person.id, site_id, seq)
        await audit.record(admin, "staff.activate" if active else "staff.deactivate", None, person.username)


async def revoke_device(admin: Staff, staff_id: Any, token_id: Any) -> None:
    """Log one device out: its token answers token_expired from now on."""
    person = await _person(admin, staff_id)
    device = await DeviceToken.objects().where((DeviceToken.id == token_id) & (DeviceToken.staff == person.id)).first()
    if device is None:
        raise NotFound("没有这台设备 / no such device")
    async with write_transaction():
        await revoke_device_tokens(person.id, device.id)
        await audit.record(admin, "staff.device_logout", None, person.username, {"device": device.device_name})
