"""Evidence review: findings (before and after) and visits with photos, and a round with all its visits."""

from __future__ import annotations

from typing import Any

from server.console.access import SiteClock
from server.console.evidence import photos_of
from server.console.filters import PAGE_SIZE
from server.console.lookups import proof_quality, staff_names
from server.console.logs import Page
from server.errors import Invalid, NotFound
from server.photos.tables import PhotoRef
from server.rectifications.tables import Finding, Rectification
from server.rounds.tables import CheckAnswer, PatrolSlot, Round, TemplateItem, Visit

REVIEW_KINDS = ("finding", "visit")


async def findings_page(clock: SiteClock, page: int, pending_only: bool) -> Page:
    where = Finding.site == clock.site.id
    if pending_only:
        where = where & (Finding.reviewed == False)  # noqa: E712
    total = await Finding.count().where(where)
    rows = await Finding.select(
        Finding.id, Finding.category, Finding.severity, Finding.note, Finding.photos, Finding.reported_at,
        Finding.reported_device_at, Finding.received_at, Finding.lat, Finding.lng, Finding.reporter,
        Finding.reviewed, Finding.skew_flag, Finding.visit, Finding.visit.round.as_alias("round_id"),
        Finding.checkpoint.name.as_alias("checkpoint_name"), Finding.zone.name.as_alias("zone_name"),
        Finding.visit.proof.as_alias("proof"),
    ).where(where).order_by(Finding.reported_at, ascending=False).limit(PAGE_SIZE).offset(
        (page - 1) * PAGE_SIZE).output(load_json=True)
    ids = [r["id"] for r in rows]
    rect_rows = {}
    if ids:
        rect_rows = {r["id"]: r for r in await Rectification.select(
            Rectification.id, Rectification.state, Rectification.photos_after, Rectification.due_at,
        ).where(Rectification.id.is_in(ids)).output(load_json=True)}
    photos = await photos_of([("finding", r["id"], r["photos"]) for r in rows]
                             + [("rect_after", i, r["photos_after"]) for i, r in rect_rows.items()])
    names = await staff_names(r["reporter"] for r in rows)
    for r in rows:
        rect = rect_rows.get(r["id"], {})
        r.update(kind="finding", reporter=names.get(r["reporter"]), rect=rect,
                 before=photos.get(("finding", str(r["id"])), []),
                 after=photos.get(("rect_after", str(r["id"])), []) if rect else [])
    return Page(rows=rows, total=total, page=page)


async def visits_page(clock: SiteClock, page: int) -> Page:
    """Visits that carry photos, newest first."""
    with_photos = PhotoRef.select(PhotoRef.record_id).where(
        (PhotoRef.site == clock.site.id) & (PhotoRef.record_type == "visit"))
    where = (Visit.site == clock.site.id) & Visit.id.is_in(with_photos)
    total = await Visit.count().where(where)
    rows = await Visit.select(
        Visit.id, Visit.round, Visit.proof, Visit.proof_verified, Visit.scanned_at, Visit.scanned_device_at,
        Visit.received_at, Visit.lat, Visit.lng, Visit.accuracy_m, Visit.photos, Visit.has_problem,
        Visit.skew_flag, Visit.staff, Visit.checkpoint.name.as_alias("checkpoint_name"),
        Visit.round.template.name_zh.as_alias("template_zh"), Visit.round.template.name_en.as_alias("template_en"),
    ).where(where).order_by(Visit.scanned_at, ascending=False).limit(PAGE_SIZE).offset(
        (page - 1) * PAGE_SIZE).output(load_json=True)
    photos = await photos_of([("visit", r["id"], r["photos"]) for r in rows])
    names = await staff_names(r["staff"] for r in rows)
    for r in rows:
        r.update(kind="visit", person=names.get(r["staff"]), before=photos.get(("visit", str(r["id"])), []))
    return Page(rows=rows, total=total, page=page)


async def review_page(clock: SiteClock, kind: str, page: int, pending_only: bool) -> Page:
    if kind not in REVIEW_KINDS:
        raise Invalid("未知的类别 / unknown kind", code="bad_filter")
    if kind == "finding":
        return await findings_page(clock, page, pending_only)
    return await visits_page(clock, page)


async def round_detail(clock: SiteClock, round_id: Any) -> dict[str, Any]:
    """A round of this site with its template, guard, slot, visits (answers, photos), findings, and the
    template's checkpoints it has no visit for (`skipped`, in the round's order)."""
    rnd = await Round.select(
        Round.all_columns(), Round.template.name_zh.as_alias("template_zh"),
        Round.template.name_en.as_alias("template_en"), Round.template.proof.as_alias("template_proof"),
    ).where((Round.id == round_id) & (Round.site == clock.site.id)).first()
    if rnd is None:
        raise NotFound("没有这个巡查记录 / no such round")
    visits = await Visit.select(
        Visit.all_columns(), Visit.checkpoint.name.as_alias("checkpoint_name"),
        Visit.checkpoint.zone.name.as_alias("zone_name"),
    ).where(Visit.round == rnd["id"]).order_by(Visit.scanned_at).output(load_json=True)
    answers = await CheckAnswer.select().where(CheckAnswer.visit.is_in([v["id"] for v in visits] or [rnd["id"]]))
    by_visit: dict[Any, list[dict[str, Any]]] = {}
    for a in answers:
        by_visit.setdefault(a["visit"], []).append(a)
    photos = await photos_of([("visit", v["id"], v["photos"]) for v in visits])
    for v in visits:
        v["answers"] = by_visit.get(v["id"], [])
        v["evidence"] = photos.get(("visit", str(v["id"])), [])
    findings = await Finding.select(Finding.id, Finding.category, Finding.severity, Finding.note).where(
        Finding.visit.is_in([v["id"] for v in visits] or [rnd["id"]]))
    slot = None
    if rnd["slot"]:
        slot = await PatrolSlot.select().where(PatrolSlot.id == rnd["slot"]).first()
    names = await staff_names([rnd["staff"]])
    required = await TemplateItem.select(
        TemplateItem.checkpoint, TemplateItem.checkpoint.name.as_alias("name"),
        TemplateItem.checkpoint.zone.name.as_alias("zone_name"),
    ).where(TemplateItem.template == rnd["template"]).order_by(TemplateItem.position)
    seen = {v["checkpoint"] for v in visits}
    skipped = [c for c in required if c["checkpoint"] not in seen]
    return {"round": rnd, "visits": visits, "findings": findings, "slot": slot, "person": names.get(rnd["staff"]),
            "proof": proof_quality(visits), "required": required, "skipped": skipped}


async def record_target(clock: SiteClock, record_type: str, record_id: Any) -> str:
    """The console page showing a record a photo belongs to (for the "possibly reused" link)."""
    base = f"/console/sites/{clock.site.id}"
    if record_type == "visit":
        row = await Visit.select(Visit.round).where((Visit.id == record_id) & (Visit.site == clock.site.id)).first()
        if row:
            return f"{base}/rounds/{row['round']}#visit-{record_id}"
    elif record_type in ("finding", "rect_after"):
        if await Rectification.exists().where((Rectification.id == record_id) & (Rectification.site == clock.site.id)):
            return f"{base}/rectifications/{record_id}"
    elif record_type == "transition":
        from server.rectifications.tables import RectTransition

        row = await RectTransition.select(RectTransition.rectification).where(RectTransition.id == record_id).first()
        if row and await Rectification.exists().where(
                (Rectification.id == row["rectification"]) & (Rectification.site == clock.site.id)):
            return f"{base}/rectifications/{row['rectification']}"
    raise NotFound("没有这条记录 / no such record")
