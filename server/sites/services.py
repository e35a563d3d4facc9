"""Creating and configuring sites: zones, checkpoints, the level's figures and round templates."""

from __future__ import annotations

import json
import uuid
from typing import Any

from server import standard
from server.changes import next_position
from server.db import write_transaction
from server.errors import Invalid, NotFound
from server.rounds.tables import RoundTemplate, TemplateItem
from server.secrets_box import encrypt, decrypt, new_short_code, new_token, normalise_code, sha256_hex
from server.sites.tables import Checkpoint, Site, SiteFigure, Zone

CHECKPOINT_KINDS = (
    "core", "gate", "car_park", "equipment_room", "rooftop", "pool", "corridor", "road",
    "drain_well", "light", "tree_group", "bin_point",
)


async def create_site(name: str, level: int, timezone: str = "Asia/Shanghai", address: str = "") -> Site:
    """A new site with the deadline and rate figures of its level (templates come with checkpoints)."""
    name = name.strip()
    if not name:
        raise Invalid("请填写小区名称 / name is required", code="invalid")
    if level not in standard.LEVELS:
        raise Invalid("服务等级必须是一级、二级或三级 / level must be 1, 2 or 3")
    async with write_transaction():
        seq = await next_position()
        site = Site(name=name, level=level, timezone=timezone, address=address, seq=seq)
        await site.save()
        await SiteFigure.insert(*[
            SiteFigure(site=site.id, code=f["code"], kind=f["kind"], value=f["value"],
                       default_value=f["value"], extrapolated=f["extrapolated"])
            for f in standard.default_figures(level)
        ])
    return site


async def get_site(site_id: Any) -> Site:
    site = await Site.objects().where(Site.id == site_id).first()
    if site is None:
        raise NotFound("没有这个小区 / no such site")
    return site


async def add_zone(site_id: uuid.UUID, name: str, sort_order: int = 0) -> Zone:
    async with write_transaction():
        seq = await next_position()
        zone = Zone(site=site_id, name=name, sort_order=sort_order, seq=seq)
        await zone.save()
    return zone


def new_poster_secrets() -> tuple[str, str]:
    """A QR secret and a 6-character short code for a checkpoint poster."""
    return "XJ-" + new_token(18), new_short_code()


async def add_checkpoint(
    site_id: uuid.UUID, name: str, kind: str, zone_id: uuid.UUID | None = None,
    lat: float | None = None, lng: float | None = None, sort_order: int = 0,
    secret: str | None = None, code: str | None = None,
) -> tuple[Checkpoint, str, str]:
    """A checkpoint and its poster secrets (returned once in clear; kept hashed and encrypted)."""
    if kind not in CHECKPOINT_KINDS:
        raise Invalid(f"未知的点位类型 / unknown checkpoint kind: {kind}")
    new_secret, new_code = new_poster_secrets()
    secret, code = secret or new_secret, normalise_code(code or new_code)
    async with write_transaction():
        seq = await next_position()
        cp = Checkpoint(
            site=site_id, zone=zone_id, name=name, kind=kind, lat=lat, lng=lng,
            sort_order=sort_order, qr_hash=sha256_hex(secret), code_hash=sha256_hex(code),
            secret_enc=encrypt(json.dumps({"qr": secret, "code": code})), seq=seq,
        )
        await cp.save()
    return cp, secret, code


def poster_secrets(cp: Checkpoint) -> tuple[str, str] | None:
    """The QR secret and short code printed on this checkpoint's poster."""
    raw = decrypt(cp.secret_enc) if cp.secret_enc else None
    if raw is None:
        return None
    data = json.loads(raw)
    return data["qr"], data["code"]


async def generate_templates(site_id: uuid.UUID) -> list[RoundTemplate]:
    """Round templates of the site's level, each holding the site's checkpoints of its kinds."""
    site = await get_site(site_id)
    checkpoints = await Checkpoint.objects().where(
        (Checkpoint.site == site_id) & (Checkpoint.retired == False)  # noqa: E712
    ).order_by(Checkpoint.sort_order)
    riding = standard.riding_checks(site.level)
    made = []
    async with write_transaction():
        seq = await next_position()
        for spec in standard.templates_for_level(site.level):
            template = RoundTemplate(
                site=site_id, code=spec["code"], role=spec["role"], kind=spec["kind"],
                name_zh=spec["name_zh"], name_en=spec["name_en"], frequency=spec["frequency"],
                window_start=spec["window_start"], window_end=spec["window_end"],
                proof=spec["proof"], extrapolated=spec["extrapolated"], seq=seq,
            )
            await template.save()
            items = []
            for position, cp in enumerate(c for c in checkpoints if c.kind in spec["checkpoint_kinds"]):
                checks = _checks_of(spec, riding, cp.kind)
                items.append(TemplateItem(template=template.id, checkpoint=cp.id, position=position, checks=checks))
            if items:
                await TemplateItem.insert(*items)
            made.append(template)
    return made


def _checks_of(spec: dict[str, Any], riding: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The checks a checkpoint of `kind` gets in a template made from `spec`.

    The core patrol also carries the checks of rows verified "each patrol" at
    this level (warning signs, fire lanes) at the checkpoints of their kinds.
    """
    checks = list(spec["checks"])
    if spec["code"] == "patrol.core":
        for extra in riding:
            if kind in extra["kinds"]:
                checks += extra["checks"]
    return checks


def checks_for_kind(level: int, template_code: str, kind: str) -> list[dict[str, Any]] | None:
    """The checks of a standard template for a checkpoint kind, or None when its row does not cover the kind."""
    spec = next((t for t in standard.templates_for_level(level) if t["code"] == template_code), None)
    if spec is None or kind not in spec["checkpoint_kinds"]:
        return None
    return _checks_of(spec, standard.riding_checks(level), kind)


async def place_checkpoint(cp: Checkpoint, level: int) -> list[RoundTemplate]:
    """Add a checkpoint, at the end, to the site's active standard templates whose row covers its kind.

    Call inside the write transaction that created or changed the checkpoint;
    every template that gains an item takes a new position so phones pull it.
    """
    templates = await RoundTemplate.objects().where(
        (RoundTemplate.site == cp.site) & (RoundTemplate.active == True)  # noqa: E712
    )
    changed = []
    for template in templates:
        checks = checks_for_kind(level, template.code, cp.kind)
        if checks is None or await TemplateItem.exists().where(
            (TemplateItem.template == template.id) & (TemplateItem.checkpoint == cp.id)
        ):
            continue
        last = await TemplateItem.select(TemplateItem.position).where(
            TemplateItem.template == template.id).order_by(TemplateItem.position, ascending=False).first()
        position = (last["position"] + 1) if last else 0
        await TemplateItem.insert(TemplateItem(template=template.id, checkpoint=cp.id, position=position, checks=checks))
        await RoundTemplate.update({RoundTemplate.seq: await next_position()}).where(RoundTemplate.id == template.id)
        changed.append(template)
    return changed


async def unplace_checkpoint(cp_id: Any, template_codes: Any = None) -> int:
    """Take a checkpoint out of its site's templates (all, or those of the given standard codes).

    Template items are configuration, not history (visits point at the
    checkpoint itself), so removing them loses nothing already recorded.
    """
    items = await TemplateItem.select(TemplateItem.id, TemplateItem.template, TemplateItem.template.code).where(
        TemplateItem.checkpoint == cp_id)
    if template_codes is not None:
        items = [i for i in items if i["template.code"] in set(template_codes)]
    if not items:
        return 0
    await TemplateItem.delete().where(TemplateItem.id.is_in([i["id"] for i in items]))
    for template_id in {i["template"] for i in items}:
        await RoundTemplate.update({RoundTemplate.seq: await next_position()}).where(RoundTemplate.id == template_id)
    return len(items)


async def regenerate_poster(cp_id: Any) -> tuple[str, str]:
    """New QR secret and short code for a checkpoint: the old poster stops verifying at once."""
    secret, code = new_poster_secrets()
    async with write_transaction():
        seq = await next_position()
        rows = await Checkpoint.update({
            Checkpoint.qr_hash: sha256_hex(secret), Checkpoint.code_hash: sha256_hex(code),
            Checkpoint.secret_enc: encrypt(json.dumps({"qr": secret, "code": code})), Checkpoint.seq: seq,
        }).where(Checkpoint.id == cp_id).returning(Checkpoint.id)
        if not rows:
            raise NotFound("没有这个点位 / no such checkpoint")
    return secret, code


async def figure(site_id: Any, code: str) -> float:
    """The site's own value of a standard figure (deadline minutes or rate percent)."""
    row = await SiteFigure.select(SiteFigure.value).where(
        (SiteFigure.site == site_id) & (SiteFigure.code == code)
    ).first()
    if row is None:
        raise NotFound(f"no figure {code} for this site")
    return float(row["value"])
