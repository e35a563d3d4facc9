"""Zones, checkpoints and the lighting register from the admin pages; a new poster voids the old one."""

from __future__ import annotations

import re
import uuid

import pytest

from admin_pages import as_admin, iso_now, page_error, post, sync_push
from conftest import device_token, run


@pytest.fixture
def env(make_site):
    return make_site(roles=("admin", "guard", "cleaner"))


def items_of(template_code, site_id):
    from server.rounds.tables import RoundTemplate, TemplateItem

    template = run(RoundTemplate.objects().where(
        (RoundTemplate.site == site_id) & (RoundTemplate.code == template_code) & (RoundTemplate.active == True)  # noqa: E712
    ).first())
    return template, run(TemplateItem.objects().where(TemplateItem.template == template.id).order_by(
        TemplateItem.position).output(load_json=True))


def add_checkpoint(client, site_id, name, kind, zone="", lat="", lng=""):
    from server.sites.tables import Checkpoint

    response = post(client, f"/admin/sites/{site_id}/checkpoints",
                    {"name": name, "kind": kind, "zone": zone, "lat": lat, "lng": lng})
    assert response.status_code == 303, page_error(response)
    return run(Checkpoint.objects().where((Checkpoint.site == site_id) & (Checkpoint.name == name)).first())


def test_a_new_checkpoint_joins_the_templates_that_cover_its_kind(client, env):
    as_admin(client, env)
    site_id = env["site"].id
    patrol, before = items_of("patrol.core", site_id)
    cp = add_checkpoint(client, site_id, "配电房", "equipment_room", str(env["zone"].id), "31.2304", "121.4737")
    assert (cp.lat, cp.lng, cp.zone) == (31.2304, 121.4737, env["zone"].id)
    assert len(cp.qr_hash) == 64 and len(cp.code_hash) == 64 and cp.secret_enc
    patrol_after, after = items_of("patrol.core", site_id)
    assert len(after) == len(before) + 1 and after[-1].checkpoint == cp.id
    # Level 2 checks warning signs and fire equipment on each patrol: they ride on the core patrol here.
    assert {c["id"] for c in after[-1].checks} == {"secure", "warning_sign", "fire_lane", "extinguisher"}
    assert patrol_after.seq > patrol.seq
    # Not in a round whose row does not cover equipment rooms.
    _sweep, sweep_items = items_of("clean.sweep", site_id)
    assert cp.id not in {i.checkpoint for i in sweep_items}
    html = client.get(f"/admin/sites/{site_id}/checkpoints").text
    assert "配电房" in html and "设备房" in html


def test_bad_checkpoint_input_is_refused_and_saves_nothing(client, env, make_site):
    from server.sites.tables import Checkpoint

    as_admin(client, env)
    site_id = env["site"].id
    other_zone = make_site(roles=())["zone"].id
    count = run(Checkpoint.count().where(Checkpoint.site == site_id))
    for data, word in (({"name": "", "kind": "core"}, "name"), ({"name": "x", "kind": "spaceship"}, "kind"),
                       ({"name": "x", "kind": "core", "lat": "31.2"}, "latitude"),
                       ({"name": "x", "kind": "core", "lat": "999", "lng": "1"}, "lat"),
                       ({"name": "x", "kind": "core", "zone": str(other_zone)}, "zone"),
                       ({"name": "x", "kind": "core", "zone": "not-a-uuid"}, "zone")):
        response = post(client, f"/admin/sites/{site_id}/checkpoints", data)
        assert response.status_code == 400, data
        assert word in page_error(response), (data, page_error(response))
    assert run(Checkpoint.count().where(Checkpoint.site == site_id)) == count


def test_zones_are_created_renamed_reordered_and_retired_never_deleted(client, env):
    from server.sites.tables import Deletion, Zone

    as_admin(client, env)
    site_id = env["site"].id
    for name in ("A区", "B区"):
        assert post(client, f"/admin/sites/{site_id}/zones", {"name": name}).status_code == 303
    duplicate = post(client, f"/admin/sites/{site_id}/zones", {"name": "A区"})
    assert duplicate.status_code == 400 and "A区" in page_error(duplicate)

    def order():
        rows = run(Zone.objects().where((Zone.site == site_id) & (Zone.retired == False)).order_by(Zone.sort_order))  # noqa: E712
        return [z.name for z in rows]

    assert order() == ["1号楼", "A区", "B区"]
    b = run(Zone.objects().where((Zone.site == site_id) & (Zone.name == "B区")).first())
    post(client, f"/admin/zones/{b.id}/move", {"direction": "up"})
    post(client, f"/admin/zones/{b.id}/move", {"direction": "up"})
    assert order() == ["B区", "1号楼", "A区"]
    post(client, f"/admin/zones/{b.id}", {"name": "北区"})
    assert order() == ["北区", "1号楼", "A区"]
    # A zone that still holds active checkpoints cannot be retired; an empty one can.
    busy = post(client, f"/admin/zones/{env['zone'].id}/retire", {"retired": "1"})
    assert busy.status_code == 409
    assert post(client, f"/admin/zones/{b.id}/retire", {"retired": "1"}).status_code == 303
    assert order() == ["1号楼", "A区"]
    assert run(Zone.exists().where(Zone.id == b.id))
    assert run(Deletion.exists().where((Deletion.record_type == "zone") & (Deletion.record_id == str(b.id))))


def test_checkpoints_reorder_rename_change_kind_and_retire(client, env):
    from server.sites.tables import Checkpoint

    as_admin(client, env)
    site_id, zone_id = env["site"].id, str(env["zone"].id)
    first = add_checkpoint(client, site_id, "一号点", "core", zone_id)
    second = add_checkpoint(client, site_id, "二号点", "core", zone_id)
    post(client, f"/admin/checkpoints/{second.id}/move", {"direction": "up"})
    rows = run(Checkpoint.objects().where((Checkpoint.zone == env["zone"].id) & (Checkpoint.retired == False))  # noqa: E712
               .order_by(Checkpoint.sort_order))
    names = [c.name for c in rows]
    assert names.index("二号点") < names.index("一号点")
    # Renamed and turned into a bin point: it leaves the patrol and joins the garbage rounds.
    response = post(client, f"/admin/checkpoints/{first.id}", {"name": "一号垃圾点", "kind": "bin_point",
                                                                 "zone": zone_id})
    assert response.status_code == 303
    assert first.id not in {i.checkpoint for i in items_of("patrol.core", site_id)[1]}
    assert first.id in {i.checkpoint for i in items_of("clean.garbage", site_id)[1]}
    # Retired: out of every template, kept in the table, and phones are told.
    token = device_token(client, env["users"]["guard"].username)
    pulled = client.get("/sync/pull", headers={"Authorization": f"Bearer {token}"}).json()
    assert post(client, f"/admin/checkpoints/{second.id}/retire", {"retired": "1"}).status_code == 303
    assert second.id not in {i.checkpoint for i in items_of("patrol.core", site_id)[1]}
    assert run(Checkpoint.select(Checkpoint.retired).where(Checkpoint.id == second.id).first())["retired"] is True
    later = client.get("/sync/pull", params={"since": pulled["cursor"]},
                       headers={"Authorization": f"Bearer {token}"}).json()
    assert {"type": "checkpoint", "id": str(second.id)} in later["deleted"]
    patrol = next(t for t in later["templates"] if t["code"] == "patrol.core")
    assert str(second.id) not in {i["checkpoint_id"] for i in patrol["items"]}
    # Brought back, it returns to the patrol.
    post(client, f"/admin/checkpoints/{second.id}/retire", {"retired": "0"})
    assert second.id in {i.checkpoint for i in items_of("patrol.core", site_id)[1]}


def test_a_new_poster_makes_the_old_secret_fail_verification(client, env):
    from server.rounds.tables import Visit
    from server.secrets_box import sha256_hex
    from server.sites.services import poster_secrets
    from server.sites.tables import AuditEntry, Checkpoint

    as_admin(client, env)
    core = next(c for c in env["checkpoints"] if c["checkpoint"].kind == "core")
    cp_id, old_secret, old_code = core["checkpoint"].id, core["secret"], core["code"]
    assert run(Checkpoint.objects().where(Checkpoint.id == cp_id).first()).qr_hash == sha256_hex(old_secret)
    old_poster = client.get(f"/admin/sites/{env['site'].id}/posters?checkpoint={cp_id}").text
    assert old_code in old_poster

    response = post(client, f"/admin/checkpoints/{cp_id}/poster")
    assert response.status_code == 303
    cp = run(Checkpoint.objects().where(Checkpoint.id == cp_id).first())
    new_secret, new_code = poster_secrets(cp)
    assert new_secret != old_secret and new_code != old_code
    assert cp.qr_hash == sha256_hex(new_secret) != sha256_hex(old_secret)
    assert cp.code_hash == sha256_hex(new_code) != sha256_hex(old_code)
    poster = client.get(f"/admin/sites/{env['site'].id}/posters?checkpoint={cp_id}").text
    assert new_code in poster and old_code not in poster
    # Neither secret went into the audit trail.
    details = " ".join(str(r["detail"]) for r in run(AuditEntry.select(AuditEntry.detail)))
    assert old_secret not in details and new_secret not in details and new_code not in details

    # A guard scanning the old poster: applied, but unverified; the new poster verifies.
    patrol = next(t for t in env["templates"] if t.code == "patrol.core")
    token = device_token(client, env["users"]["guard"].username)
    round_id, old_visit, new_visit, code_visit = (str(uuid.uuid4()) for _ in range(4))
    answer = sync_push(client, token, [
        {"type": "round.start", "data": {"round_id": round_id, "template_id": str(patrol.id), "started_at": iso_now()}},
        {"type": "visit.record", "data": {"visit_id": old_visit, "round_id": round_id, "checkpoint_id": str(cp_id),
                                          "proof": "qr", "secret": old_secret, "scanned_at": iso_now(), "answers": []}},
        {"type": "visit.record", "data": {"visit_id": new_visit, "round_id": round_id, "checkpoint_id": str(cp_id),
                                          "proof": "qr", "secret": new_secret, "scanned_at": iso_now(), "answers": []}},
        {"type": "visit.record", "data": {"visit_id": code_visit, "round_id": round_id, "checkpoint_id": str(cp_id),
                                          "proof": "code", "secret": old_code, "scanned_at": iso_now(), "answers": []}},
    ])
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["applied"] * 4
    verified = {str(v["id"]): v["proof_verified"] for v in run(Visit.select(Visit.id, Visit.proof_verified).where(
        Visit.round == round_id))}
    assert verified == {old_visit: False, new_visit: True, code_visit: False}


def test_poster_page_lays_out_one_a4_poster_per_checkpoint_and_a_label_sheet(client, env):
    as_admin(client, env)
    site = env["site"]
    html = client.get(f"/admin/sites/{site.id}/posters").text
    active = [c for c in env["checkpoints"]]
    assert html.count('<section class="poster"') == len(active)
    assert html.count('<svg viewBox=') == len(active) and 'class="qr"' in html
    for c in active:
        assert c["code"] in html and c["checkpoint"].name in html
        assert c["secret"] not in html.replace("<", " <")  # the secret is only in the QR's modules
    assert site.name in html and "posters.css" in html
    labels = client.get(f"/admin/sites/{site.id}/posters?layout=labels").text
    assert labels.count('<section class="label"') == len(active)
    one = env["checkpoints"][0]["checkpoint"].id
    assert client.get(f"/admin/sites/{site.id}/posters?checkpoint={one}").text.count('<section class="poster"') == 1
    assert client.get(f"/admin/sites/{site.id}/posters?layout=pdf").status_code == 400
    css = client.get("/static/admin/posters.css").text
    assert "@page" in css and "A4" in css and "@media print" in css and "page-break-after" in css


def test_lighting_register_counts_per_zone_and_single_lights(client, env):
    from server.sites.tables import Light

    as_admin(client, env)
    site_id, zone_id = env["site"].id, str(env["zone"].id)
    assert post(client, f"/admin/sites/{site_id}/lights", {"zone": zone_id, "label": "楼道灯", "count": "24"}).status_code == 303
    assert post(client, f"/admin/sites/{site_id}/lights", {"zone": "", "label": "大门射灯", "count": "1"}).status_code == 303
    bad = post(client, f"/admin/sites/{site_id}/lights", {"zone": zone_id, "label": "x", "count": "0"})
    assert bad.status_code == 400
    html = client.get(f"/admin/sites/{site_id}/lights").text
    assert re.search(r"data-light-total>25<", html)
    single = run(Light.objects().where((Light.site == site_id) & (Light.label == "大门射灯")).first())
    post(client, f"/admin/lights/{single.id}", {"action": "retire"})
    assert re.search(r"data-light-total>24<", client.get(f"/admin/sites/{site_id}/lights").text)
    corridor = run(Light.objects().where((Light.site == site_id) & (Light.label == "楼道灯")).first())
    post(client, f"/admin/lights/{corridor.id}", {"zone": zone_id, "label": "楼道灯", "count": "30"})
    assert re.search(r"data-light-total>30<", client.get(f"/admin/sites/{site_id}/lights").text)
