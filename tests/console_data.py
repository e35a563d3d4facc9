"""Building records for the console tests through the real services (rounds, findings, transitions),
with chosen corrected times, on sites of their own."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from server.console.access import SiteClock
from server.rectifications import services as rects
from server.rounds import services as rounds
from server.rounds import schedule
from server.rounds.tables import PatrolSlot, Round, RoundTemplate, TemplateItem, Visit
from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
from server.sites.tables import Checkpoint, Light, Site
from server.changes import next_position
from server.db import write_transaction
from server.staff.auth import hash_password
from server.staff.tables import Staff, StaffSite

PASSWORD = "xunjian-demo"
PHOTO = "ab" * 32  # a photo the phone has not uploaded: enough for a fix, which needs one


async def new_site(level: int = 2, created_at: datetime | None = None, lights: int = 0,
                   tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """A site with one person per role (usernames <role>-<tag>), its templates, and optionally lights."""
    tag = uuid.uuid4().hex[:8]
    site = await create_site(f"控制台测试-{tag}", level=level, timezone=tz)
    if created_at is not None:
        # Slots are only made for windows after the site existed: history needs an older site.
        await Site.update({Site.created_at: created_at}).where(Site.id == site.id)
        site.created_at = created_at
    zone = await add_zone(site.id, "1号楼")
    checkpoints = {}
    for kind in ("core", "car_park", "gate", "bin_point", "drain_well", "tree_group", "light", "corridor"):
        cp, _, _ = await add_checkpoint(site.id, f"{kind}-{tag}", kind, zone_id=zone.id)
        checkpoints[kind] = cp
    await generate_templates(site.id)
    if created_at is not None:
        # A template's windows are slots from its own creation too (schedule.since_of): as old as the site.
        await RoundTemplate.update({RoundTemplate.created_at: created_at}).where(RoundTemplate.site == site.id)
    templates = {t.code: t for t in await RoundTemplate.objects().where(RoundTemplate.site == site.id).output(
        load_json=True)}
    users = {}
    for role in ("guard", "cleaner", "gardener", "technician", "supervisor", "admin"):
        users[role] = await quick_staff(f"{role}-{tag}", f"{role} {tag}", role, site.id)
    if lights:
        await Light.insert(Light(site=site.id, zone=zone.id, label="路灯", count=lights))
    return {"site": site, "zone": zone, "checkpoints": checkpoints, "templates": templates, "users": users,
            "tag": tag, "clock": SiteClock(site)}


_HASH: list[str] = []


async def quick_staff(username: str, name: str, role: str, site_id: Any) -> Staff:
    """A staff member of one site with the demo password, hashed once per test process (argon2 is slow)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    async with write_transaction():
        seq = await next_position()
        staff = Staff(username=username, name=name, role=role, password_hash=_HASH[0], seq=seq, sites_seq=seq)
        await staff.save()
        await StaffSite.insert(StaffSite(staff=staff.id, site=site_id))
    return staff


async def patrol_round(template: RoundTemplate, guard: Any, started: datetime, finished: datetime,
                       checkpoints: list[Any] = ()) -> Round:
    """A round through the inspection log writers, visiting these checkpoints (ids, in order, between
    start and finish); finishing it settles its patrol slot."""
    rnd = await rounds.start_round(uuid.uuid4(), template, guard, started, started)
    step_by = (finished - started) / (len(checkpoints) + 1)
    places = {c.id: c for c in await Checkpoint.objects().where(Checkpoint.id.is_in(list(checkpoints)))} \
        if checkpoints else {}
    for i, cp in enumerate(checkpoints, 1):
        at = started + step_by * i
        await rounds.record_visit(uuid.uuid4(), rnd, places[cp], guard, proof="qr", proof_verified=True,
                                  scanned_at=at, device_at=at, answers=[], photos=[])
    await rounds.finish_round(rnd, finished, finished)
    return rnd


async def required_checkpoints(template: Any) -> list[Any]:
    """The checkpoint ids a template's round must visit, in its order."""
    rows = await TemplateItem.select(TemplateItem.checkpoint).where(TemplateItem.template == template.id).order_by(
        TemplateItem.position)
    return [r["checkpoint"] for r in rows]


async def settle_by_the_rule(site_id: Any) -> None:
    """Give this site's settled slots the status the one rule gives their rounds (schedule.settled_status,
    with visited/required from the visits). A stand-in until the push's settling of finished rounds
    passes visited/required itself; the same recomputation the migration makes of stored slots."""
    slots = await PatrolSlot.select().where((PatrolSlot.site == site_id) & PatrolSlot.round.is_not_null())
    for slot in slots:
        required = await required_checkpoints(SimpleNamespace(id=slot["template"]))
        visits = await Visit.select(Visit.checkpoint).where(Visit.round == slot["round"])
        visited = len({v["checkpoint"] for v in visits} & set(required))
        rnd = await Round.select(Round.finished_at).where(Round.id == slot["round"]).first()
        status = schedule.settled_status(slot["window_end"], rnd["finished_at"], visited, len(required))
        await PatrolSlot.update({PatrolSlot.status: status, PatrolSlot.visited: visited,
                                 PatrolSlot.required: len(required)}).where(PatrolSlot.id == slot["id"])


async def bulk_rounds(template: RoundTemplate, staff: Any, starts: list[datetime]) -> None:
    """Finished rounds of a template (no slot settling: for frequencies counted per period)."""
    if starts:
        await Round.insert(*[Round(
            id=uuid.uuid4(), template=template.id, site=template.site, staff=staff.id, state="finished",
            started_at=s, started_device_at=s, finished_at=s + timedelta(minutes=20),
            finished_device_at=s + timedelta(minutes=20), received_at=s + timedelta(minutes=21),
        ) for s in starts])


async def finding(actor: Any, site_id: Any, category: str, at: datetime, severity: str = "normal") -> uuid.UUID:
    outcome = await rects.report_finding(actor, uuid.uuid4(), site_id, category, severity, at=at, device_at=at)
    return outcome.rectification.id


async def step(rect_id: Any, actor: Any, action: str, at: datetime, **extra: Any) -> rects.TransitionOutcome:
    if action == "fix":
        extra.setdefault("photos", [PHOTO])
    return await rects.transition(rect_id, actor, action, at=at, device_at=at, **extra)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def midday_zone() -> str:
    """A fixed-offset zone where it is between 12:00 and 13:00 now, so "today" has a morning behind it
    whenever the tests run."""
    offset = (12 - datetime.now(timezone.utc).hour + 12) % 24 - 12  # -12..+11 hours
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


async def upload(uploader: Any, content: bytes) -> str:
    """Store a photo through the photos service, as a phone's upload would."""
    import hashlib

    from server.photos.services import receive_photo

    sha = hashlib.sha256(content).hexdigest()

    async def chunks():  # type: ignore[no-untyped-def]
        yield content

    await receive_photo(uploader, sha, "image/jpeg", len(content), chunks())
    return sha


async def seeded_site() -> dict[str, Any]:
    """A site with today's records: a round with a failed check and photos (one not uploaded), findings
    (one overdue, one reusing an earlier photo), a complaint due within 2 h; and a second site."""
    from photo_samples import jpeg

    from server.rounds.services import record_visit
    from server.rounds.tables import TemplateItem

    now = datetime.now(timezone.utc)
    tz = midday_zone()
    s = await new_site(level=2, created_at=now - timedelta(days=5), lights=20, tz=tz)
    morning = datetime.combine(now.astimezone(ZoneInfo(tz)).date(), datetime.min.time(), tzinfo=ZoneInfo(tz))
    t0 = (morning + timedelta(hours=10, minutes=30)).astimezone(timezone.utc)  # the 10:00-12:00 window
    u, site_id = s["users"], s["site"].id
    guard, sup = u["guard"], u["supervisor"]
    photo_a, photo_b = await upload(guard, jpeg(seed=90101)), await upload(guard, jpeg(seed=90202))
    template = s["templates"]["patrol.core"]
    rnd = await rounds.start_round(uuid.uuid4(), template, guard, t0, t0)
    cp = s["checkpoints"]["car_park"]
    checks = (await TemplateItem.select(TemplateItem.checks).where(
        (TemplateItem.template == template.id) & (TemplateItem.checkpoint == cp.id)).output(load_json=True).first())
    answers = [{"check_id": c["id"], "label_zh": c["label_zh"], "ok": i != 0, "note": "堵了" if i == 0 else ""}
               for i, c in enumerate(checks["checks"])]
    visit, _ = await record_visit(uuid.uuid4(), rnd, cp, guard, proof="code", proof_verified=True,
                                  scanned_at=t0 + timedelta(minutes=5), device_at=t0 + timedelta(minutes=5),
                                  answers=answers, photos=[photo_a, "cd" * 32], lat=31.23, lng=121.47,
                                  accuracy_m=8)
    ok_visit, _ = await record_visit(uuid.uuid4(), rnd, s["checkpoints"]["core"], guard, proof="qr",
                                     proof_verified=True, scanned_at=t0 + timedelta(minutes=10),
                                     device_at=t0 + timedelta(minutes=10), answers=[], photos=[])
    await rounds.finish_round(rnd, t0 + timedelta(minutes=20), t0 + timedelta(minutes=20))
    fresh = await rects.report_finding(guard, uuid.uuid4(), site_id, "fire_safety", "normal", visit_id=visit.id,
                                       checkpoint_id=cp.id, zone_id=s["zone"].id, note="消防通道被占",
                                       photos=[photo_b], at=t0 + timedelta(minutes=6), round_id=rnd.id)
    overdue = await finding(guard, site_id, "drain", now - timedelta(days=3))
    reused = await rects.report_finding(u["cleaner"], uuid.uuid4(), site_id, "garbage", "normal",
                                        photos=[photo_b], at=now - timedelta(minutes=5))
    complaint = await rects.open_reception(sup, site_id, "complaint", note="电梯异响", resident_unit="2栋",
                                           resident_contact="137", at=now - timedelta(minutes=30))
    other = await new_site(level=1)
    s.update(round=rnd, visit=visit, ok_visit=ok_visit, fresh=fresh.rectification.id, overdue=overdue,
             reused=reused.rectification.id, complaint=complaint.id, photo_a=photo_a, photo_b=photo_b,
             other=other)
    return s
