"""Round templates as admins edit them: items (checkpoints in order, checks per item), frequency,
time window, role and proof policy. Every change gives the template a new seq so phones pull it."""

from __future__ import annotations

import re
import secrets
from typing import Any

from server import standard
from server.admin.access import admin_site
from server.admin.services import audit
from server.changes import next_position, record_deletion
from server.db import write_transaction
from server.errors import Invalid, NotFound
from server.rounds.tables import RoundTemplate, TemplateItem
from server.sites import services as site_services
from server.sites.tables import Checkpoint
from server.staff.tables import FIELD_ROLES, Staff

PERIODS = ("hours", "day", "week", "month", "quarter", "year", "occurrence", "continuous", "trigger", "contract")
TEMPLATE_ROLES = (*FIELD_ROLES, "supervisor")
TEMPLATE_KINDS = ("patrol", "gate", "cleaning", "drains", "pests", "greenery", "lighting", "other")
PROOFS = ("qr", "any")
TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
CHECK_ID = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_ITEMS = 500
MAX_CHECKS = 30

_PERIOD_WORDS = {
    "hours": ("每{every}小时", "every {every} h"), "day": ("每日{times}次", "{times}× a day"),
    "week": ("每{every}周", "every {every} week(s)"), "month": ("每{every}月", "every {every} month(s)"),
    "quarter": ("每{every}季度", "every {every} quarter(s)"), "year": ("每{every}年", "every {every} year(s)"),
    "occurrence": ("发生时", "on occurrence"), "continuous": ("24小时", "24 h"),
    "trigger": ("按触发条件", "when triggered"), "contract": ("按合同约定", "per contract"),
}


def describe(frequency: dict[str, Any]) -> tuple[str, str]:
    """The frequency in words, zh and en (shown on phones and in the console)."""
    zh, en = _PERIOD_WORDS[frequency["period"]]
    return zh.format(**frequency), en.format(**frequency)


async def list_for_site(admin: Staff, site_id: Any) -> dict[str, Any]:
    site = await admin_site(admin, site_id)
    templates = await RoundTemplate.objects().where(RoundTemplate.site == site.id).order_by(
        RoundTemplate.active, ascending=False).order_by(RoundTemplate.role).order_by(RoundTemplate.code).output(
        load_json=True)
    counts: dict[Any, int] = {}
    if templates:
        for row in await TemplateItem.select(TemplateItem.template).where(
                TemplateItem.template.is_in([t.id for t in templates])):
            counts[row["template"]] = counts.get(row["template"], 0) + 1
    return {"site": site, "templates": templates, "item_counts": counts}


async def _template(admin: Staff, template_id: Any) -> tuple[RoundTemplate, Any]:
    template = await RoundTemplate.objects().where(RoundTemplate.id == template_id).output(load_json=True).first()
    if template is None:
        raise NotFound("没有这个巡检模板 / no such round template")
    return template, await admin_site(admin, template.site)


async def detail(admin: Staff, template_id: Any) -> dict[str, Any]:
    template, site = await _template(admin, template_id)
    items = await TemplateItem.objects().where(TemplateItem.template == template.id).order_by(
        TemplateItem.position).output(load_json=True)
    checkpoints = await Checkpoint.objects().where(Checkpoint.site == site.id).order_by(Checkpoint.sort_order)
    by_id = {c.id: c for c in checkpoints}
    return {
        "template": template, "site": site,
        "items": [{"item": i, "checkpoint": by_id.get(i.checkpoint), "checks_text": checks_text(i.checks)}
                  for i in items],
        "addable": [c for c in checkpoints if not c.retired and c.id not in {i.checkpoint for i in items}],
        "periods": PERIODS, "roles": TEMPLATE_ROLES, "kinds": TEMPLATE_KINDS, "proofs": PROOFS,
    }


def checks_text(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['id']} | {c['label_zh']} | {c.get('label_en', '')}" for c in checks)


def _new_check_id(label_en: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label_en.lower()).strip("_")[:32]
    candidate = base if base and CHECK_ID.match(base) else "check_" + secrets.token_hex(3)
    while candidate in taken:
        candidate = f"{base or 'check'}_{secrets.token_hex(2)}"
    return candidate


def parse_checks(text: str, where: str) -> list[dict[str, str]]:
    """Lines of `id | 中文 | English` (or `中文 | English`, or just `中文`) into checks.

    Ids are what answers refer to, so an existing line keeps its id; a line
    without one gets a new id made from its English label.
    """
    checks: list[dict[str, str]] = []
    taken: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        parts = [p.strip() for p in line.split("|")]
        if not any(parts):
            continue
        if len(parts) > 3:
            raise Invalid(f"{where} 第{number}行: 最多三段 (编号 | 中文 | English) / line {number}: "
                          "at most three parts (id | 中文 | English)")
        if len(parts) == 3:
            check_id, zh, en = parts
        elif len(parts) == 2:
            check_id, zh, en = "", parts[0], parts[1]
        else:
            check_id, zh, en = "", parts[0], ""
        if not zh:
            raise Invalid(f"{where} 第{number}行: 缺少中文说明 / line {number}: the Chinese label is missing")
        if check_id and not CHECK_ID.match(check_id):
            raise Invalid(f"{where} 第{number}行: 编号只能用小写字母、数字和下划线 / line {number}: "
                          "ids use lowercase letters, digits and _ only")
        if check_id in taken:
            raise Invalid(f"{where} 第{number}行: 编号“{check_id}”重复 / line {number}: id “{check_id}” repeated")
        check_id = check_id or _new_check_id(en, taken)
        taken.add(check_id)
        checks.append({"id": check_id, "label_zh": zh[:200], "label_en": (en or zh)[:200]})
    if len(checks) > MAX_CHECKS:
        raise Invalid(f"{where}: 检查项最多{MAX_CHECKS}条 / at most {MAX_CHECKS} checks per item")
    return checks


def parse_schedule(name_zh: str, name_en: str, role: str, kind: str, proof: str, period: str, every: int,
                   times: int, window_start: str, window_end: str) -> dict[str, Any]:
    """Check the template's own fields; answers with the first problem found."""
    if not name_zh:
        raise Invalid("请填写模板名称 / template name is required", field="name_zh")
    for value, allowed, field in ((role, TEMPLATE_ROLES, "role"), (kind, TEMPLATE_KINDS, "kind"),
                                  (proof, PROOFS, "proof"), (period, PERIODS, "period")):
        if value not in allowed:
            raise Invalid(f"{field}无效 / {field} is not one of {', '.join(allowed)}", field=field)
    for value, field in ((window_start, "window_start"), (window_end, "window_end")):
        match = TIME.match(value)
        if not match or (match.group(1) == "24" and match.group(2) != "00"):
            raise Invalid(f"时间格式应为 HH:MM (00:00–24:00) / {field} must be HH:MM between 00:00 and 24:00",
                          field=field)
    if window_start >= window_end:
        raise Invalid("结束时间必须晚于开始时间 / the window must end after it starts", field="window_end")
    if period == "hours" and every > 24:
        raise Invalid("间隔小时数不能超过24 / every N hours: N is at most 24", field="every")
    frequency: dict[str, Any] = {"period": period, "every": every, "times": times}
    frequency["text_zh"], frequency["text_en"] = describe(frequency)
    return {"name_zh": name_zh, "name_en": name_en or name_zh, "role": role, "kind": kind, "proof": proof,
            "frequency": frequency, "window_start": window_start, "window_end": window_end}


async def update(admin: Staff, template_id: Any, fields: dict[str, Any], active: bool,
                 items: list[dict[str, Any]], add_checkpoint_id: Any = None) -> RoundTemplate:
    """Save a template's fields and its items (in the given order) at once, as one new version for phones.

    `items` are {"checkpoint_id", "checks_text"} in order; `add_checkpoint_id`
    appends one more with the standard's checks for its kind. Template items
    are configuration: rounds already recorded keep their visits and answers.
    """
    template, site = await _template(admin, template_id)
    if add_checkpoint_id is not None:
        added = await Checkpoint.objects().where(
            (Checkpoint.id == add_checkpoint_id) & (Checkpoint.site == site.id)).first()
        if added is None:
            raise Invalid("点位不属于该小区 / that checkpoint is not in this site", field="add_checkpoint")
        items = [*items, {"checkpoint_id": added.id,
                          "checks_text": default_checks(site.level, template.code, added.kind)}]
    if len(items) > MAX_ITEMS:
        raise Invalid(f"最多{MAX_ITEMS}个点位 / at most {MAX_ITEMS} checkpoints per template")
    valid = {r["id"]: r["name"] for r in await Checkpoint.select(Checkpoint.id, Checkpoint.name).where(
        (Checkpoint.site == site.id) & (Checkpoint.retired == False))}  # noqa: E712
    rows, seen = [], set()
    for item in items:
        cp_id = item["checkpoint_id"]
        if cp_id not in valid:
            raise Invalid("点位不属于该小区或已停用 / a checkpoint is not an active checkpoint of this site")
        if cp_id in seen:
            raise Invalid(f"点位“{valid[cp_id]}”出现两次 / checkpoint “{valid[cp_id]}” is listed twice")
        seen.add(cp_id)
        rows.append((cp_id, parse_checks(item["checks_text"], valid[cp_id])))
    old_frequency = {k: template.frequency.get(k) for k in ("period", "every", "times")}
    new_frequency = {k: fields["frequency"].get(k) for k in ("period", "every", "times")}
    if old_frequency == new_frequency:
        # Keep the standard's own wording (e.g. "per contract (default every 2 h)").
        fields["frequency"] = {**template.frequency, **new_frequency}
    changes = {k: [getattr(template, k), v] for k, v in fields.items() if getattr(template, k) != v and k != "frequency"}
    if old_frequency != new_frequency:
        changes["frequency"] = [old_frequency, new_frequency]
    if active != template.active:
        changes["active"] = [template.active, active]
    async with write_transaction():
        seq = await next_position()
        await RoundTemplate.update({
            **{getattr(RoundTemplate, k): v for k, v in fields.items()},
            RoundTemplate.active: active, RoundTemplate.seq: seq,
        }).where(RoundTemplate.id == template.id)
        if not active and template.active:
            await record_deletion("template", template.id, site.id, seq)
        await TemplateItem.delete().where(TemplateItem.template == template.id)
        if rows:
            await TemplateItem.insert(*[TemplateItem(template=template.id, checkpoint=cp_id, position=position,
                                                     checks=checks) for position, (cp_id, checks) in enumerate(rows)])
        changes["items"] = len(rows)
        await audit.record(admin, "template.update", site.id, fields["name_zh"], changes)
    return template


def default_checks(level: int, template_code: str, kind: str) -> str:
    """Checks offered for a checkpoint newly added to a template: the standard row's, when there is one."""
    checks = site_services.checks_for_kind(level, template_code, kind)
    if checks is None:
        row = next((r for r in standard.round_rows() if r["code"] == template_code), None)
        checks = [{"id": c["id"], "label_zh": c["zh"], "label_en": c["en"]} for c in row["checks"]] if row else []
    return checks_text(checks)


async def create(admin: Staff, site_id: Any, fields: dict[str, Any]) -> RoundTemplate:
    """A template of the site's own (not from the standard), empty until checkpoints are added."""
    site = await admin_site(admin, site_id)
    async with write_transaction():
        template = RoundTemplate(site=site.id, code="", seq=await next_position(), **fields)
        await template.save()
        await audit.record(admin, "template.create", site.id, fields["name_zh"], {"role": fields["role"]})
    return template
