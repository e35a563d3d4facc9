"""The benchmark's property company: a dedicated site, its guards and cleaners with device
tokens, their working days as sync operations, and phone-sized photos.

Everything is made through the server's own services (the process must already
point at the database: bench_support.Database.apply_env), so the rows are
exactly what the admin pages would have made.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_support import CACHE_DIR, log

PASSWORD = "bench-password-1"
# Ten checkpoints the core patrol covers (10 visits a round) and six the daily sweep covers.
CHECKPOINT_KINDS = ["core"] * 3 + ["car_park"] * 3 + ["equipment_room"] * 2 + ["rooftop", "pool"] + \
                   ["corridor"] * 2 + ["road", "bin_point", "bin_point", "drain_well"]
ROUNDS_PER_DAY = 12
VISITS_PER_ROUND = 10
FINDINGS_PER_DAY = 5  # each with one photo: the day's 5 photos (bench_load.py --photos changes it)


@dataclass
class Route:
    """A template a role walks: its id and its checkpoints with check ids and QR secrets."""

    template_id: str
    proof: str
    items: list[dict[str, Any]]  # {"checkpoint_id", "check_ids", "secret"}


@dataclass
class Worker:
    username: str
    role: str
    staff_id: str
    token: str
    device_id: str


@dataclass
class Fleet:
    site_id: str
    routes: dict[str, Route]  # role -> route
    workers: list[Worker] = field(default_factory=list)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def uuid7() -> str:
    """A time-ordered UUID, as phones make them."""
    ms = time.time_ns() // 1_000_000
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (random.getrandbits(12) << 64) | 0b10 << 62
    return str(uuid.UUID(int=value | random.getrandbits(62)))


async def seed(workers: int, supervisors: int = 1, tag: str = "") -> Fleet:
    """A level-2 site with its templates, `workers` field staff (half guards, half cleaners) and tokens."""
    from server.migrate import migrate
    from server.rounds.tables import RoundTemplate, TemplateItem
    from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
    from server.staff import auth, services as staff_services
    from server.staff.tables import Staff

    await migrate()
    tag = tag or uuid.uuid4().hex[:6]
    site = await create_site(f"压测小区-{tag}", level=2)
    zone = await add_zone(site.id, "1号楼")
    secrets: dict[str, str] = {}
    for n, kind in enumerate(CHECKPOINT_KINDS):
        cp, secret, _code = await add_checkpoint(site.id, f"{kind}-{n}", kind, zone_id=zone.id, sort_order=n)
        secrets[str(cp.id)] = secret
    await generate_templates(site.id)
    routes = {}
    for role, code in (("guard", "patrol.core"), ("cleaner", "clean.sweep")):
        template = await RoundTemplate.objects().where(
            (RoundTemplate.site == site.id) & (RoundTemplate.code == code)).first()
        items = await TemplateItem.select(TemplateItem.checkpoint, TemplateItem.checks).where(
            TemplateItem.template == template.id).order_by(TemplateItem.position).output(load_json=True)
        routes[role] = Route(str(template.id), template.proof, [
            {"checkpoint_id": str(i["checkpoint"]), "check_ids": [c["id"] for c in i["checks"]],
             "secret": secrets[str(i["checkpoint"])]} for i in items])
    fleet = Fleet(str(site.id), routes)

    # One Argon2 hash for everyone: hashing is deliberately slow, and nobody logs in with it here.
    one_hash = auth.hash_password(PASSWORD)
    original = staff_services.hash_password
    staff_services.hash_password = lambda _password: one_hash
    started = time.perf_counter()
    try:
        for n in range(workers + supervisors):
            role = "supervisor" if n >= workers else ("guard" if n % 2 == 0 else "cleaner")
            username = f"bench-{tag}-{role}-{n}"
            staff = await staff_services.create_staff(username, f"{role} {n}", role, PASSWORD, [site.id])
            if role == "supervisor":
                continue
            device_id = str(uuid.uuid4())
            token = await auth.issue_device_token(staff, device_id, "bench phone")
            fleet.workers.append(Worker(username, role, str(staff.id), token, device_id))
    finally:
        staff_services.hash_password = original
    assert await Staff.count().where(Staff.username.like(f"bench-{tag}-%")) == workers + supervisors
    log(f"seeded site {site.name}: {workers} field staff with device tokens in {time.perf_counter() - started:.1f} s")
    return fleet


def round_ops(route: Route, with_photo: str | None, site_id: str) -> list[dict[str, Any]]:
    """One round as the phone queues it: start, ten visits, finish; a finding with a photo when given."""
    round_id = uuid7()
    ops = [{"op_id": uuid7(), "type": "round.start", "at": now_iso(),
            "data": {"round_id": round_id, "template_id": route.template_id, "started_at": now_iso()}}]
    visit_ids = []
    for n in range(VISITS_PER_ROUND):
        item = route.items[n % len(route.items)]
        visit_id = uuid7()
        visit_ids.append(visit_id)
        data = {"visit_id": visit_id, "round_id": round_id, "checkpoint_id": item["checkpoint_id"],
                "proof": "qr", "secret": item["secret"], "scanned_at": now_iso(),
                "answers": [{"check_id": c, "ok": True} for c in item["check_ids"]], "photos": []}
        ops.append({"op_id": uuid7(), "type": "visit.record", "at": now_iso(), "data": data})
    if with_photo:
        ops.append({"op_id": uuid7(), "type": "finding.report", "at": now_iso(), "data": {
            "finding_id": uuid7(), "site_id": site_id, "category": "garbage", "severity": "normal",
            "visit_id": visit_ids[3], "checkpoint_id": route.items[3 % len(route.items)]["checkpoint_id"],
            "note": "垃圾满溢 / bins overflowing", "photos": [with_photo]}})
    ops.append({"op_id": uuid7(), "type": "round.finish", "at": now_iso(),
                "data": {"round_id": round_id, "finished_at": now_iso()}})
    return ops


def day_rounds(route: Route, photos: list[str], site_id: str) -> list[list[dict[str, Any]]]:
    """A day's twelve rounds (about 150 ops); the day's photos go with the first findings."""
    return [round_ops(route, photos[n] if n < len(photos) else None, site_id) for n in range(ROUNDS_PER_DAY)]


# --- photos ----------------------------------------------------------------------------------------

PHOTO_SIZE = (1600, 1200)  # what the field app sends: longest edge 1600 px, JPEG quality 0.75


def _phone_jpeg(seed: int, grain: Any) -> bytes:
    """A distinct ~300 KB 1600 px JPEG: its own coloured shapes (so its perceptual hash is its own) and grain."""
    from PIL import Image

    rng = random.Random(seed)
    small = Image.new("RGB", (160, 120), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(30):
        x, y = rng.randrange(160), rng.randrange(120)
        small.paste(tuple(rng.randrange(256) for _ in range(3)),
                    (x, y, x + rng.randrange(5, 50), y + rng.randrange(5, 50)))
    image = Image.blend(small.resize(PHOTO_SIZE, Image.Resampling.BICUBIC), grain, 0.2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=75)
    return out.getvalue()


def phone_photos(count: int) -> list[Path]:
    """`count` distinct phone photos, made once and kept in a cache directory between runs."""
    from PIL import Image

    folder = CACHE_DIR / "phone-photos-v1"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{n:05d}.jpg" for n in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        log(f"making {len(missing)} phone photos in {folder} (once)")
        grain = Image.effect_noise(PHOTO_SIZE, 40).convert("RGB")
        for path in missing:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(_phone_jpeg(int(path.stem), grain))
            tmp.replace(path)
    return paths


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
