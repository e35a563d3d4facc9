"""Round templates from the admin pages: items in order, checks in two languages, frequency, window,
role and proof; every saved change reaches phones as a new version."""

from __future__ import annotations

import re

import pytest

from admin_pages import as_admin, created_id, page_error, post
from conftest import device_token, run


@pytest.fixture
def env(make_site):
    return make_site(roles=("admin", "guard", "cleaner"))


def template_of(env, code):
    return next(t for t in env["templates"] if t.code == code)


def editor_form(client, template_id):
    """Every field of the editor as the browser would submit it untouched."""
    html = client.get(f"/admin/templates/{template_id}").text
    form = re.search(r'<form method="post" action="/admin/templates/[^"]+" id="edit-template">(.*?)</form>', html, re.S).group(1)
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form):
        if name != "_csrf_token":
            data[name] = value
    for name, options in re.findall(r'<select name="([^"]+)">(.*?)</select>', form, re.S):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        data[name] = selected.group(1) if selected else ""
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[name] = value.replace("&amp;", "&")
    if 'name="active" value="1" checked' in form:
        data["active"] = "1"
    else:
        data.pop("active", None)
    for key in [k for k in data if k.endswith("-remove")]:
        data.pop(key)
    return data


def pull_templates(client, token):
    body = client.get("/sync/pull", headers={"Authorization": f"Bearer {token}"}).json()
    return {t["id"]: t for t in body["templates"]}, body["cursor"]


def test_edit_frequency_window_proof_items_and_checks(client, env):
    from server.rounds.tables import RoundTemplate

    as_admin(client, env)
    sweep = template_of(env, "clean.sweep")
    token = device_token(client, env["users"]["cleaner"].username)
    _before, cursor = pull_templates(client, token)
    data = editor_form(client, sweep.id)
    assert data["period"] == "day" and data["window_start"] == "07:00"
    items = sorted(k for k in data if k.endswith("-checkpoint"))
    assert len(items) >= 2
    first_cp, second_cp = data["item-0-checkpoint"], data["item-1-checkpoint"]
    data.update({"name_en": "Morning sweep", "period": "day", "times": "2", "window_start": "06:30",
                 "window_end": "10:00", "proof": "any",
                 # Reverse the first two, give the first new checks (one keeps its id, one gets a new one).
                 "item-0-position": "2", "item-1-position": "1",
                 "item-0-checks": "swept | 地面清洁无杂物 | Floor clean, no litter\n落叶已清 | Leaves cleared"})
    response = post(client, f"/admin/templates/{sweep.id}", data)
    assert response.status_code == 303, page_error(response)
    row = run(RoundTemplate.objects().where(RoundTemplate.id == sweep.id).output(load_json=True).first())
    assert (row.name_en, row.window_start, row.window_end, row.proof) == ("Morning sweep", "06:30", "10:00", "any")
    assert row.frequency["times"] == 2 and row.frequency["text_zh"] == "每日2次"
    assert row.seq > sweep.seq
    # The phone's next incremental pull carries the new version.
    pulled = client.get("/sync/pull", params={"since": cursor},
                        headers={"Authorization": f"Bearer {token}"}).json()
    mine = next(t for t in pulled["templates"] if t["id"] == str(sweep.id))
    assert mine["window_start"] == "06:30" and mine["proof"] == "any"
    assert [i["checkpoint_id"] for i in mine["items"]][:2] == [second_cp, first_cp]
    moved = next(i for i in mine["items"] if i["checkpoint_id"] == first_cp)
    assert moved["checks"][0] == {"id": "swept", "label_zh": "地面清洁无杂物", "label_en": "Floor clean, no litter"}
    assert moved["checks"][1]["id"] == "leaves_cleared" and moved["checks"][1]["label_zh"] == "落叶已清"


def test_add_and_remove_checkpoints_and_deactivate(client, env):
    from server.rounds.tables import TemplateItem

    as_admin(client, env)
    gate = template_of(env, "patrol.gate")
    bin_point = next(c for c in env["checkpoints"] if c["checkpoint"].kind == "bin_point")["checkpoint"]
    data = editor_form(client, gate.id)
    count = int(data["item_count"])
    data["add_checkpoint"] = str(bin_point.id)
    assert post(client, f"/admin/templates/{gate.id}", data).status_code == 303
    items = run(TemplateItem.objects().where(TemplateItem.template == gate.id).order_by(TemplateItem.position))
    assert len(items) == count + 1 and items[-1].checkpoint == bin_point.id
    data = editor_form(client, gate.id)
    data[f"item-{count}-remove"] = "1"
    assert post(client, f"/admin/templates/{gate.id}", data).status_code == 303
    assert run(TemplateItem.count().where(TemplateItem.template == gate.id)) == count
    # Deactivated, the template leaves the guard's phone.
    token = device_token(client, env["users"]["guard"].username)
    templates, cursor = pull_templates(client, token)
    assert str(gate.id) in templates
    data = editor_form(client, gate.id)
    data.pop("active")
    assert post(client, f"/admin/templates/{gate.id}", data).status_code == 303
    later = client.get("/sync/pull", params={"since": cursor}, headers={"Authorization": f"Bearer {token}"}).json()
    assert {"type": "template", "id": str(gate.id)} in later["deleted"]


BAD_INPUT = [
    ({"window_start": "25:00"}, "HH:MM"),
    ({"window_start": "12:00", "window_end": "08:00"}, "end after"),
    ({"role": "emperor"}, "role"),
    ({"proof": "faith"}, "proof"),
    ({"period": "fortnightly"}, "period"),
    ({"every": "zero"}, "whole number"),
    ({"period": "hours", "every": "30"}, "24"),
    ({"name_zh": ""}, "name_zh"),
    ({"item-0-checks": "Bad ID! | 中文 | English"}, "lowercase"),
    ({"item-0-checks": "a | 一 | one\na | 二 | two"}, "repeated"),
    ({"item-0-checks": "x | | only english"}, "Chinese label"),
    ({"item-0-checkpoint": "not-an-id"}, "not valid"),
]


def test_bad_template_input_is_refused_and_changes_nothing(client, env):
    from server.rounds.tables import RoundTemplate, TemplateItem

    as_admin(client, env)
    patrol = template_of(env, "patrol.core")
    untouched = editor_form(client, patrol.id)
    before = run(RoundTemplate.select().where(RoundTemplate.id == patrol.id).first())
    items_before = run(TemplateItem.select(TemplateItem.checkpoint, TemplateItem.checks).where(
        TemplateItem.template == patrol.id).order_by(TemplateItem.position))
    for change, word in BAD_INPUT:
        # Each bad form would also have removed an item, had the save gone through.
        data = {**untouched, **change, "item-1-remove": "1"}
        response = post(client, f"/admin/templates/{patrol.id}", data)
        assert response.status_code == 400 and word in page_error(response), (change, page_error(response))
    assert run(RoundTemplate.select().where(RoundTemplate.id == patrol.id).first()) == before
    assert run(TemplateItem.select(TemplateItem.checkpoint, TemplateItem.checks).where(
        TemplateItem.template == patrol.id).order_by(TemplateItem.position)) == items_before
    # What was typed is still in the form shown with the error.
    response = post(client, f"/admin/templates/{patrol.id}", {**untouched, "name_en": "Kept text", "window_end": "99"})
    assert 'value="Kept text"' in response.text


def test_a_custom_template_is_created_and_filled(client, env):
    from server.rounds.tables import RoundTemplate, TemplateItem

    as_admin(client, env)
    site_id = env["site"].id
    response = post(client, f"/admin/sites/{site_id}/templates", {"name_zh": "夜间电梯检查", "name_en": "Night lift check",
                                                                   "role": "guard", "kind": "patrol",
                                                                   "period": "day", "proof": "qr"})
    template_id = created_id(response, "/admin/templates")
    row = run(RoundTemplate.objects().where(RoundTemplate.id == template_id).first())
    assert (row.code, row.role, row.active) == ("", "guard", True)
    core = next(c for c in env["checkpoints"] if c["checkpoint"].kind == "core")["checkpoint"]
    data = editor_form(client, template_id)
    data.update({"add_checkpoint": str(core.id), "window_start": "22:00", "window_end": "24:00"})
    assert post(client, f"/admin/templates/{template_id}", data).status_code == 303
    item = run(TemplateItem.objects().where(TemplateItem.template == template_id).first())
    assert item.checkpoint == core.id
    html = client.get(f"/admin/sites/{site_id}/templates").text
    assert "夜间电梯检查" in html and "22:00–24:00" in html
