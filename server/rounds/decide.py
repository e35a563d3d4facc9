"""Deciding the inspection log's ops on plain data: round.start, visit.record, round.finish.

Each `decide_*` judges one op on a `World` (server/decisions.py) in the
contract's order (not_found -> id_reused -> forbidden -> conflict -> applied;
the op's shape was read before), raises the domain's error before it changes
anything, and otherwise adds the rows to write to `RoundRows` and updates the
world so the next op sees what this one made. `server/rounds/writer.py` writes
the rows; a sync push, a single op and the services all come through here.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.decisions import Outcome, RoundState, World, claim, forbidden, not_found
from server.photos.links import PhotoLinks
from server.secrets_box import normalise_code, sha256_hex


@dataclass
class Finish:
    """A round finished: its row is closed and its patrol slot settled when the rows are written."""

    round_id: uuid.UUID
    template: uuid.UUID
    staff: uuid.UUID
    finished_at: datetime  # corrected
    device_at: datetime
    flagged: bool
    visited: int  # distinct checkpoints of the template visited in the round


@dataclass
class RoundRows:
    """Rows decided but not written yet, in the order the ops came."""

    rounds: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # new rounds (a finish edits its row)
    visits: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    finishes: list[Finish] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rounds or self.visits or self.finishes)


def proof_verified(proof: str, secret: str | None, checkpoint: Any) -> bool:
    """Whether the secret the phone scanned or typed matches the poster (by SHA-256, constant time)."""
    if proof == "none" or not secret:
        return False
    if proof == "qr":
        return hmac.compare_digest(sha256_hex(secret.strip()), checkpoint.qr_hash)
    return hmac.compare_digest(sha256_hex(normalise_code(secret)), checkpoint.code_hash)


def _round(world: World, round_id: uuid.UUID) -> RoundState:
    rnd = world.rounds.get(round_id)
    if rnd is None:
        raise not_found(("这个巡查", "round"))
    return rnd


def decide_round_start(world: World, rows: RoundRows, links: PhotoLinks, data: dict[str, Any]) -> Outcome:
    """Open a round of a template of the actor's sites; the template's role must be theirs (supervisors: any)."""
    template = world.templates.get(data["template_id"])
    if template is None:
        raise not_found(("这个巡查模板", "template"))
    claim(world, data["round_id"], "round_id")
    if template.role != world.user.role and not world.is_supervisor:
        raise forbidden("这项巡查不属于您的岗位 / this round belongs to another role")
    clock = world.clock
    row = {"id": data["round_id"], "template": template.id, "site": template.site, "staff": world.user.id,
           "state": "open", "started_at": clock.corrected(data["started_at"]), "started_device_at": data["started_at"],
           "received_at": clock.received_at, "skew_seconds": clock.skew_seconds, "skew_flag": clock.flagged}
    rows.rounds[row["id"]] = row
    world.taken.add(row["id"])
    world.rounds[row["id"]] = RoundState(id=row["id"], template=template.id, site=template.site,
                                         staff=world.user.id, state="open")
    return Outcome("applied", state="open")


def decide_visit(world: World, rows: RoundRows, links: PhotoLinks, data: dict[str, Any]) -> Outcome:
    """A checkpoint visit with its answers on the actor's own open round."""
    rnd = _round(world, data["round_id"])
    checkpoint = world.checkpoints.get(data["checkpoint_id"])
    if checkpoint is None or checkpoint.site != rnd.site:
        raise not_found(("这个巡查点", "checkpoint"))
    checks = world.checks.get(rnd.template, {})
    # A checkpoint off the template may still be visited; its answers must name checks the template has.
    known = checks.get(checkpoint.id) or {k: v for item in checks.values() for k, v in item.items()}
    for answer in data["answers"]:
        if answer["check_id"] not in known:
            raise not_found((f"检查项 {answer['check_id'][:64]}", f"check {answer['check_id'][:64]}"))
    claim(world, data["visit_id"], "visit_id")
    if rnd.staff != world.user.id:
        raise forbidden("只有开始这次巡查的人可以记录 / only the person who started the round records on it")
    if rnd.state == "finished":
        return Outcome("conflict", state="finished")
    visit_id, shas = data["visit_id"], data["photos"]
    has_problem = False
    for answer in data["answers"]:
        rows.answers.append({"visit": visit_id, "check_id": answer["check_id"],
                             "label_zh": known[answer["check_id"]], "ok": answer["ok"], "note": answer["note"]})
        has_problem = has_problem or not answer["ok"]
    missing = links.link(world.photos, rnd.site, "visit", visit_id, shas, rnd.id) if shas else []
    clock = world.clock
    rows.visits.append({
        "id": visit_id, "round": rnd.id, "site": rnd.site, "checkpoint": checkpoint.id, "staff": rnd.staff,
        "proof": data["proof"], "proof_verified": proof_verified(data["proof"], data.get("secret"), checkpoint),
        "scanned_at": clock.corrected(data["scanned_at"]), "scanned_device_at": data["scanned_at"],
        "received_at": clock.received_at, "lat": data.get("lat"), "lng": data.get("lng"),
        "accuracy_m": data.get("accuracy_m"), "photos": shas, "photos_missing": len(missing),
        "has_problem": has_problem, "skew_flag": clock.flagged,
    })
    world.taken.add(visit_id)
    world.visits[visit_id] = (rnd.site, rnd.id)
    rnd.visited.add(checkpoint.id)
    return Outcome("applied", state="open", missing_photos=missing)


def decide_finish(world: World, rows: RoundRows, links: PhotoLinks, data: dict[str, Any]) -> Outcome:
    """Close the actor's own open round; its patrol slot is settled when it is written."""
    rnd = _round(world, data["round_id"])
    if rnd.staff != world.user.id:
        raise forbidden("只有开始这次巡查的人可以结束 / only the person who started the round finishes it")
    if rnd.state == "finished":
        return Outcome("conflict", state="finished")
    device_at = data["finished_at"]
    rnd.state = "finished"
    required = set(world.checks.get(rnd.template, {}))
    rows.finishes.append(Finish(round_id=rnd.id, template=rnd.template, staff=rnd.staff,
                                finished_at=world.clock.corrected(device_at), device_at=device_at,
                                flagged=world.clock.flagged, visited=len(rnd.visited & required)))
    return Outcome("applied", state="finished")
