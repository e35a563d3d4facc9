"""CSV import of checkpoints and staff: preview with per-row errors, GBK files, cancel, all-or-nothing."""

from __future__ import annotations

import re
import uuid

import pytest

from admin_pages import as_admin, page_error, post
from conftest import login, run


@pytest.fixture
def env(make_site):
    return make_site(roles=("admin",))


def upload(client, kind, site_id, content: bytes, name="data.csv"):
    return post(client, "/admin/import/preview", {"kind": kind, "site": str(site_id)},
                files={"file": (name, content, "text/csv")})


def row_errors(html):
    """{line: [messages]} of the rows the preview marks bad."""
    out = {}
    for line, cell in re.findall(r'<tr data-line="(\d+)" class="bad">(.*?)</tr>', html, re.S):
        out[int(line)] = re.findall(r'<p class="error row-error">([^<]*)</p>', cell)
    return out


def payload(html):
    return re.search(r'name="payload" value="([^"]+)"', html).group(1)


def confirm(client, kind, site_id, data):
    return post(client, "/admin/import/confirm", {"kind": kind, "site": str(site_id), "payload": data})


def names_in(site_id):
    from server.sites.tables import Checkpoint

    return {r["name"] for r in run(Checkpoint.select(Checkpoint.name).where(Checkpoint.site == site_id))}


def test_good_checkpoint_rows_preview_then_save_into_zones_and_templates(client, env):
    from server.rounds.tables import RoundTemplate, TemplateItem
    from server.sites.tables import AuditEntry, Checkpoint, Zone

    as_admin(client, env)
    site_id = env["site"].id
    tag = uuid.uuid4().hex[:4]
    csv_text = ("区域,名称,类型,纬度,经度\n"
                f"地下车库B2,B2入口-{tag},车库,31.23,121.47\n"
                f"1号楼,1号楼大堂-{tag},core,,\n"
                f",东门岗亭-{tag},Gate,,\n")
    preview = upload(client, "checkpoints", site_id, csv_text.encode("utf-8"))
    assert preview.status_code == 200, preview.text[:2000]
    html = preview.text
    assert "3行" in html and "地下车库B2" in html and not row_errors(html)
    assert "新区域" in html
    # Previewing saved nothing.
    assert not {f"B2入口-{tag}", f"东门岗亭-{tag}"} & names_in(site_id)
    assert not run(Zone.exists().where((Zone.site == site_id) & (Zone.name == "地下车库B2")))
    saved = confirm(client, "checkpoints", site_id, payload(html))
    assert saved.status_code == 303 and "ok=imported" in saved.headers["location"]
    assert {f"B2入口-{tag}", f"1号楼大堂-{tag}", f"东门岗亭-{tag}"} <= names_in(site_id)
    b2 = run(Checkpoint.objects().where(Checkpoint.name == f"B2入口-{tag}").first())
    zone = run(Zone.objects().where(Zone.id == b2.zone).first())
    assert (zone.name, b2.kind, b2.lat, b2.lng) == ("地下车库B2", "car_park", 31.23, 121.47)
    lobby = run(Checkpoint.objects().where(Checkpoint.name == f"1号楼大堂-{tag}").first())
    assert lobby.zone == env["zone"].id  # an existing zone is reused, not duplicated
    patrol = run(RoundTemplate.objects().where((RoundTemplate.site == site_id) & (RoundTemplate.code == "patrol.core")).first())
    in_patrol = {r["checkpoint"] for r in run(TemplateItem.select(TemplateItem.checkpoint).where(
        TemplateItem.template == patrol.id))}
    assert {b2.id, lobby.id} <= in_patrol
    assert run(AuditEntry.exists().where((AuditEntry.site == site_id) & (AuditEntry.action == "import.checkpoints")))


def test_bad_rows_get_clear_messages_and_nothing_is_saved(client, env):
    as_admin(client, env)
    site_id = env["site"].id
    existing = env["checkpoints"][0]["checkpoint"].name
    tag = uuid.uuid4().hex[:4]
    csv_text = ("名称,类型,区域,纬度,经度\n"
                f"好点-{tag},core,1号楼,,\n"             # line 2: fine
                ",core,1号楼,,\n"                         # line 3: no name
                f"飞船-{tag},spaceship,1号楼,,\n"         # line 4: unknown kind
                f"{existing},core,1号楼,,\n"              # line 5: already exists
                f"好点-{tag},core,1号楼,,\n"              # line 6: repeats line 2
                f"坐标-{tag},core,1号楼,north,121\n")     # line 7: not a number
    preview = upload(client, "checkpoints", site_id, csv_text.encode("utf-8"))
    assert preview.status_code == 422
    errors = row_errors(preview.text)
    assert set(errors) == {3, 4, 5, 6, 7}
    assert any("缺少名称" in m and "name is missing" in m for m in errors[3])
    assert any("spaceship" in m and "unknown kind" in m for m in errors[4])
    assert any(existing in m and "already exists" in m for m in errors[5])
    assert any("line 2" in m for m in errors[6])
    assert any("latitude" in m for m in errors[7])
    assert 'id="import-confirm"' not in preview.text  # no save button while any row is wrong
    # Even a forged confirm of this file saves nothing: all rows or none.
    import base64

    forced = confirm(client, "checkpoints", site_id, base64.b64encode(csv_text.encode()).decode())
    assert forced.status_code == 422
    assert f"好点-{tag}" not in names_in(site_id)


def test_a_gbk_file_as_excel_writes_it_is_read(client, env):
    as_admin(client, env)
    site_id = env["site"].id
    tag = uuid.uuid4().hex[:4]
    csv_text = f"区域,名称,类型\r\n花园,中心花园树群-{tag},树群\r\n花园,花园污水井-{tag},雨污水井\r\n"
    raw = csv_text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    preview = upload(client, "checkpoints", site_id, raw)
    assert preview.status_code == 200 and "GBK" in preview.text
    assert f"中心花园树群-{tag}" in preview.text
    assert confirm(client, "checkpoints", site_id, payload(preview.text)).status_code == 303
    assert {f"中心花园树群-{tag}", f"花园污水井-{tag}"} <= names_in(site_id)
    # UTF-8 with a BOM (Excel's "CSV UTF-8") reads the same way.
    bom = ("\ufeff名称,类型\n" + f"BOM点-{tag},core\n").encode("utf-8")
    preview = upload(client, "checkpoints", site_id, bom)
    assert preview.status_code == 200 and "UTF-8 (BOM)" in preview.text


def test_cancel_saves_nothing(client, env):
    from server.sites.tables import Zone

    as_admin(client, env)
    site_id = env["site"].id
    tag = uuid.uuid4().hex[:4]
    preview = upload(client, "checkpoints", site_id, f"区域,名称,类型\n新区-{tag},取消点-{tag},core\n".encode())
    assert preview.status_code == 200
    cancel = re.search(r'href="([^"]+)" id="import-cancel"', preview.text).group(1).replace("&amp;", "&")
    assert client.get(cancel).status_code == 200
    assert f"取消点-{tag}" not in names_in(site_id)
    assert not run(Zone.exists().where(Zone.name == f"新区-{tag}"))


def test_staff_import_with_roles_in_chinese_and_per_row_errors(client, env, make_site):
    from server.staff.tables import Staff, StaffSite

    as_admin(client, env)
    site_id = env["site"].id
    foreign = make_site(roles=())["site"].name
    tag = uuid.uuid4().hex[:4]
    good = (f"用户名,姓名,角色,密码,电话,小区\n"
            f"g-{tag},刘保安,保安,changeme-123,13800000000,\n"
            f"c-{tag},周保洁,cleaner,changeme-456,,{env['site'].name}\n")
    preview = upload(client, "staff", site_id, good.encode("gbk"))
    assert preview.status_code == 200 and not row_errors(preview.text)
    assert "changeme-123" not in preview.text.split('name="payload"')[0]  # passwords are masked in the table
    assert confirm(client, "staff", site_id, payload(preview.text)).status_code == 303
    people = {p.username: p for p in run(Staff.objects().where(Staff.username.is_in([f"g-{tag}", f"c-{tag}"])))}
    assert (people[f"g-{tag}"].role, people[f"c-{tag}"].role) == ("guard", "cleaner")
    assert all(run(StaffSite.exists().where((StaffSite.staff == p.id) & (StaffSite.site == site_id)))
               for p in people.values())
    assert login(client, f"g-{tag}", "changeme-123").status_code == 303

    as_admin(client, env)
    bad = (f"username,name,role,password\n"
           f"g-{tag},重复,guard,changeme-123\n"
           f"x-{tag},,wizard,short\n"
           f"y-{tag},外人,guard,changeme-789\n")
    preview = upload(client, "staff", site_id, bad.encode())
    errors = row_errors(preview.text)
    assert preview.status_code == 422 and set(errors) == {2, 3}
    assert any("already taken" in m for m in errors[2])
    assert any("wizard" in m for m in errors[3]) and any("8" in m for m in errors[3])
    assert any("name is missing" in m for m in errors[3])
    other_site = upload(client, "staff", site_id, f"用户名,姓名,角色,密码,小区\nz-{tag},某人,保安,changeme-1,{foreign}\n".encode())
    assert any("not one of your sites" in m for m in row_errors(other_site.text)[2])
    assert not run(Staff.exists().where(Staff.username.is_in([f"y-{tag}", f"z-{tag}"])))


def test_unreadable_files_are_refused_clearly(client, env):
    as_admin(client, env)
    site_id = env["site"].id
    missing_column = upload(client, "checkpoints", site_id, "名称,备注\n一号点,无\n".encode())
    assert missing_column.status_code == 422 and "missing columns" in missing_column.text
    binary = upload(client, "checkpoints", site_id, bytes([0x81, 0x30, 0xff, 0xfe, 0x00, 0x81]) * 50, "photo.jpg")
    assert binary.status_code == 400 and "UTF-8" in page_error(binary)
    empty = upload(client, "checkpoints", site_id, b"")
    assert empty.status_code == 400 and page_error(empty)
    huge = upload(client, "checkpoints", site_id, b"a" * (1024 * 1024 + 1))
    assert huge.status_code == 413
    damaged = confirm(client, "checkpoints", site_id, "%%%not base64%%%")
    assert damaged.status_code == 400
