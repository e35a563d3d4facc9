"""Import of checkpoints and staff from CSV files as Excel writes them (UTF-8 with or without BOM,
GBK/GB18030, or UTF-16 "Unicode text"): a preview with per-row errors first, then an
all-or-nothing save of exactly the file that was previewed."""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from server import i18n
from server.admin.access import admin_site, admin_sites
from server.admin.services import audit
from server.changes import next_position
from server.db import write_transaction
from server.errors import Invalid, TooLarge
from server.sites import services as site_services
from server.sites.services import CHECKPOINT_KINDS
from server.sites.tables import Checkpoint, Zone
from server.staff.auth import hash_password
from server.staff.services import MIN_PASSWORD_LENGTH
from server.staff.tables import ROLES, Staff, StaffSite

KINDS = ("checkpoints", "staff")
MAX_BYTES = 1024 * 1024
MAX_ROWS = 2000
SITE_SEPARATORS = re.compile(r"[;；,，、|/]")

COLUMNS = {
    "checkpoints": {
        "zone": ("区域", "分区", "zone"), "name": ("名称", "点位", "点位名称", "name", "checkpoint"),
        "kind": ("类型", "点位类型", "kind", "type"), "lat": ("纬度", "lat", "latitude"),
        "lng": ("经度", "lng", "lon", "longitude"),
    },
    "staff": {
        "username": ("用户名", "账号", "username", "login"), "name": ("姓名", "名字", "name"),
        "role": ("角色", "岗位", "role"), "password": ("密码", "初始密码", "password"),
        "phone": ("电话", "手机", "手机号", "phone"), "sites": ("小区", "site", "sites"),
    },
}
REQUIRED = {"checkpoints": ("name", "kind"), "staff": ("username", "name", "role", "password")}


@dataclass
class Row:
    line: int  # the line in the file, as Excel numbers it (the header is line 1)
    values: dict[str, str]
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parsed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Preview:
    kind: str
    site: Any
    encoding: str
    columns: list[str]
    rows: list[Row]
    file_errors: list[str]
    payload: str
    new_zones: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.rows if r.errors)

    @property
    def ok(self) -> bool:
        return not self.file_errors and bool(self.rows) and self.error_count == 0


def decode(raw: bytes) -> tuple[str, str]:
    """The text of an uploaded file and the encoding it was read as."""
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8):].decode("utf-8"), "UTF-8 (BOM)"
        except UnicodeDecodeError:
            pass
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    else:
        try:
            return raw.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            try:
                # GB18030 is a superset of GBK, which Excel in China writes for "CSV".
                return raw.decode("gb18030"), "GBK"
            except UnicodeDecodeError:
                pass
    raise Invalid("无法识别文件编码, 请另存为 UTF-8 或 GBK 的 CSV / the file is not UTF-8 or GBK text; "
                  "save it as CSV again", code="bad_encoding")


def _names(prefix: str, codes: tuple[str, ...]) -> dict[str, str]:
    """Every way a person may write a code: the code, its Chinese and English names (any case)."""
    out = {}
    for code in codes:
        out[code.lower()] = code
        for language in i18n.LANGUAGES:
            out[i18n.translate(language, f"{prefix}{code}").strip().lower()] = code
    return out


def _read_table(text: str, kind: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str]]:
    lines = text.splitlines()
    first = lines[0] if lines else ""
    # Excel writes commas, semicolons where the decimal mark is a comma, tabs for "Unicode text".
    delimiter = max(",;\t", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return [], [], ["文件是空的 / the file is empty"]
    aliases = {alias.lower(): key for key, names in COLUMNS[kind].items() for alias in names}
    columns = [aliases.get(h.strip().lstrip("\ufeff").lower(), "") for h in header]
    errors = []
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        wanted = ", ".join(f"{COLUMNS[kind][c][0]}/{COLUMNS[kind][c][-1]}" for c in missing)
        errors.append(f"缺少列: {wanted} / missing columns: {wanted}")
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            errors.append(f"最多{MAX_ROWS}行 / at most {MAX_ROWS} rows per file")
            break
        record = {col: (values[i].strip() if i < len(values) else "") for i, col in enumerate(columns) if col}
        rows.append((reader.line_num, record))
    if not rows and not errors:
        errors.append("文件里没有数据行 / the file has no data rows")
    return [c for c in columns if c], rows, errors


async def preview(admin: Staff, kind: str, site_id: Any, raw: bytes) -> Preview:
    """Read and check every row; nothing is saved."""
    if kind not in KINDS:
        raise Invalid("导入类型只能是点位或员工 / import checkpoints or staff", field="kind")
    site = await admin_site(admin, site_id)
    if len(raw) > MAX_BYTES:
        raise TooLarge(f"文件太大 (最大{MAX_BYTES // 1024} KB) / the file is over {MAX_BYTES // 1024} KB")
    if not raw.strip():
        raise Invalid("请选择一个CSV文件 / choose a CSV file", field="file")
    text, encoding = decode(raw)
    columns, table, file_errors = _read_table(text, kind)
    rows = [Row(line=line, values=values) for line, values in table]
    result = Preview(kind=kind, site=site, encoding=encoding, columns=columns, rows=rows, file_errors=file_errors,
                     payload=base64.b64encode(raw).decode())
    if kind == "checkpoints":
        await _check_checkpoints(result)
    else:
        await _check_staff(admin, result)
    return result


async def _check_checkpoints(result: Preview) -> None:
    site = result.site
    kinds = _names("admin.kind.", CHECKPOINT_KINDS)
    zones = {z.name: z.id for z in await Zone.objects().where((Zone.site == site.id) & (Zone.retired == False))}  # noqa: E712
    existing = {r["name"] for r in await Checkpoint.select(Checkpoint.name).where(
        (Checkpoint.site == site.id) & (Checkpoint.retired == False))}  # noqa: E712
    seen: dict[str, int] = {}
    for row in result.rows:
        v = row.values
        name, zone = v.get("name", ""), v.get("zone", "")
        if not name:
            row.errors.append("缺少名称 / the name is missing")
        elif len(name) > 200:
            row.errors.append("名称太长 (最多200字) / the name is longer than 200 characters")
        elif name in existing:
            row.errors.append(f"点位“{name}”已存在 / checkpoint “{name}” already exists")
        elif name in seen:
            row.errors.append(f"与第{seen[name]}行重名 / same name as line {seen[name]}")
        seen.setdefault(name, row.line)
        raw_kind = v.get("kind", "")
        code = kinds.get(raw_kind.lower())
        if code is None:
            row.errors.append(f"未知的类型“{raw_kind}” / unknown kind “{raw_kind}”" if raw_kind
                              else "缺少类型 / the kind is missing")
        if len(zone) > 200:
            row.errors.append("区域名称太长 / the zone name is too long")
        elif zone and zone not in zones:
            row.notes.append("新区域 / new zone")
            if zone not in result.new_zones:
                result.new_zones.append(zone)
        lat = lng = None
        try:
            lat, lng = _position(v.get("lat", ""), v.get("lng", ""))
        except ValueError as exc:
            row.errors.append(str(exc))
        row.parsed = {"name": name, "kind": code, "zone": zone, "zone_id": zones.get(zone), "lat": lat, "lng": lng}


def _position(raw_lat: str, raw_lng: str) -> tuple[float | None, float | None]:
    if not raw_lat and not raw_lng:
        return None, None
    try:
        lat, lng = float(raw_lat), float(raw_lng)
    except ValueError:
        raise ValueError("纬度和经度需同时填写数字 / latitude and longitude must both be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError("纬度或经度超出范围 / latitude or longitude out of range")
    return lat, lng


async def _check_staff(admin: Staff, result: Preview) -> None:
    roles = _names("role.", ROLES)
    site_names = {s.name: s.id for s in await admin_sites(admin)}
    usernames = {r["username"].lower() for r in await Staff.select(Staff.username)}
    seen: dict[str, int] = {}
    for row in result.rows:
        v = row.values
        username, name = v.get("username", ""), v.get("name", "")
        if not username:
            row.errors.append("缺少用户名 / the username is missing")
        elif len(username) > 64 or any(c.isspace() for c in username):
            row.errors.append("用户名最多64个字符且不能有空格 / usernames have at most 64 characters and no spaces")
        elif username.lower() in usernames:
            row.errors.append(f"用户名“{username}”已被使用 / username “{username}” is already taken")
        elif username.lower() in seen:
            row.errors.append(f"与第{seen[username.lower()]}行用户名重复 / same username as line {seen[username.lower()]}")
        seen.setdefault(username.lower(), row.line)
        if not name:
            row.errors.append("缺少姓名 / the name is missing")
        raw_role = v.get("role", "")
        role = roles.get(raw_role.lower())
        if role is None:
            row.errors.append(f"未知的角色“{raw_role}” / unknown role “{raw_role}”" if raw_role
                              else "缺少角色 / the role is missing")
        if len(v.get("password", "")) < MIN_PASSWORD_LENGTH:
            row.errors.append(f"密码至少{MIN_PASSWORD_LENGTH}位 / the password needs at least "
                              f"{MIN_PASSWORD_LENGTH} characters")
        if len(v.get("phone", "")) > 32:
            row.errors.append("电话太长 / the phone number is too long")
        wanted = [s.strip() for s in SITE_SEPARATORS.split(v.get("sites", "")) if s.strip()]
        unknown = [s for s in wanted if s not in site_names]
        if unknown:
            row.errors.append(f"不是您管理的小区: {'、'.join(unknown)} / not one of your sites: {', '.join(unknown)}")
        site_ids = [site_names[s] for s in wanted if s in site_names] or [result.site.id]
        row.parsed = {"username": username, "name": name, "role": role, "password": v.get("password", ""),
                      "phone": v.get("phone", ""), "site_ids": list(dict.fromkeys(site_ids))}


async def confirm(admin: Staff, kind: str, site_id: Any, payload: str) -> tuple[Preview, int]:
    """Check the previewed file again and save all of its rows, or none: (preview, rows saved)."""
    try:
        raw = base64.b64decode(payload.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("导入数据已损坏, 请重新上传 / the import data is damaged; upload the file again") from None
    result = await preview(admin, kind, site_id, raw)
    if not result.ok:
        return result, 0
    if kind == "checkpoints":
        return result, await _save_checkpoints(admin, result)
    return result, await _save_staff(admin, result)


async def _save_checkpoints(admin: Staff, result: Preview) -> int:
    site = result.site
    async with write_transaction():
        last = await Zone.select(Zone.sort_order).where(Zone.site == site.id).order_by(
            Zone.sort_order, ascending=False).first()
        order = (last["sort_order"] + 1) if last else 0
        zone_ids = {}
        for name in result.new_zones:
            zone_ids[name] = (await site_services.add_zone(site.id, name, sort_order=order)).id
            order += 1
        last = await Checkpoint.select(Checkpoint.sort_order).where(Checkpoint.site == site.id).order_by(
            Checkpoint.sort_order, ascending=False).first()
        cp_order = (last["sort_order"] + 1) if last else 0
        for row in result.rows:
            p = row.parsed
            cp, _secret, _code = await site_services.add_checkpoint(
                site.id, p["name"], p["kind"], zone_id=p["zone_id"] or zone_ids.get(p["zone"]),
                lat=p["lat"], lng=p["lng"], sort_order=cp_order)
            cp_order += 1
            await site_services.place_checkpoint(cp, site.level)
        await audit.record(admin, "import.checkpoints", site.id, f"{len(result.rows)}",
                           {"rows": len(result.rows), "zones_created": result.new_zones, "encoding": result.encoding})
    return len(result.rows)


async def _save_staff(admin: Staff, result: Preview) -> int:
    # Hashing is slow on purpose: do it before taking the write lock.
    hashes = [hash_password(row.parsed["password"]) for row in result.rows]
    async with write_transaction():
        taken = {r["username"].lower() for r in await Staff.select(Staff.username)}
        if any(row.parsed["username"].lower() in taken for row in result.rows):
            raise Invalid("有用户名刚被占用, 请重新预览 / a username was taken meanwhile; preview the file again",
                          code="duplicate")
        for row, password_hash in zip(result.rows, hashes):
            p = row.parsed
            seq = await next_position()
            person = Staff(username=p["username"], name=p["name"], role=p["role"], password_hash=password_hash,
                           phone=p["phone"], seq=seq, sites_seq=seq)
            await person.save()
            await StaffSite.insert(*[StaffSite(staff=person.id, site=s) for s in p["site_ids"]])
        await audit.record(admin, "import.staff", result.site.id, f"{len(result.rows)}",
                           {"rows": len(result.rows), "usernames": [r.parsed["username"] for r in result.rows],
                            "encoding": result.encoding})
    return len(result.rows)
