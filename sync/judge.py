"""Judging the batch's record ops in memory: round.start, visit.record, round.finish, finding.report.

Each `judge_*` is a plain function over the batch's `Snapshot`: it checks the op
in the contract's order (not_found -> id_reused -> forbidden -> conflict ->
applied; shapes were checked by sync/ops.py) exactly as the per-op path in
sync/apply.py does, and raises `Rejection` before it changes anything. An
applied op adds its rows to `Pending` (written later in bulk, sync/flush.py) and
updates the snapshot, so the batch's later ops see what it created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from server import standard
from server.rectifications.services import sla_deadline
from sync.apply import OpResult, forbidden, id_reused, not_found, proof_verified
from sync.ops import Op, Rejection
from sync.snapshot import RoundState, Snapshot


@dataclass
class Finish:
    """A round finished by the batch: its patrol slot is settled when the rows are written."""

    round_id: uuid.UUID
    template: uuid.UUID
    finished_at: datetime  # corrected
    device_at: datetime


@dataclass
class Pending:
    """Rows of judged ops not written yet, in the order the ops came."""

    sync_ops: list[dict[str, Any]] = field(default_factory=list)
    rounds: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # a finish in the batch edits its row
    visits: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rects: list[dict[str, Any]] = field(default_factory=list)
    photo_refs: list[dict[str, Any]] = field(default_factory=list)
    finishes: list[Finish] = field(default_factory=list)
    # Records linking photos that are uploaded already: the reuse check runs on them once written.
    reuse: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    announce: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (finding, rectification)

    def __bool__(self) -> bool:
        return bool(self.sync_ops)


def _round(snap: Snapshot, round_id: uuid.UUID) -> RoundState:
    rnd = snap.rounds.get(round_id)
    if rnd is None:
        raise not_found(("这个巡查", "round"))
    return rnd


def _claim(snap: Snapshot, ident: uuid.UUID, name: str) -> None:
    if ident in snap.taken:
        raise id_reused(name)


def _link(pending: Pending, snap: Snapshot, site: uuid.UUID, record_type: str, record_id: uuid.UUID,
          shas: list[str], round_id: uuid.UUID | None) -> list[str]:
    """server.photos.services.link_photos for the batch: the references, and the photos not uploaded yet."""
    for sha in shas:
        pending.photo_refs.append({"sha256": sha, "site": site, "record_type": record_type, "record_id": record_id,
                                   "round_id": round_id})
    missing = [s for s in shas if s not in snap.photos]
    if len(missing) < len(shas):
        pending.reuse.append((record_type, record_id))
    return missing


def judge_round_start(snap: Snapshot, pending: Pending, op: Op) -> OpResult:
    data = op.data
    template = snap.templates.get(data["template_id"])
    if template is None:
        raise not_found(("这个巡查模板", "template"))
    _claim(snap, data["round_id"], "round_id")
    if template.role != snap.user.role and not snap.is_supervisor:
        raise forbidden("这项巡查不属于您的岗位 / this round belongs to another role")
    clock = snap.clock
    row = {"id": data["round_id"], "template": template.id, "site": template.site, "staff": snap.user.id,
           "state": "open", "started_at": clock.corrected(data["started_at"]), "started_device_at": data["started_at"],
           "received_at": clock.received_at, "skew_seconds": clock.skew_seconds, "skew_flag": clock.flagged}
    pending.rounds[row["id"]] = row
    snap.taken.add(row["id"])
    snap.rounds[row["id"]] = RoundState(id=row["id"], template=template.id, site=template.site, staff=snap.user.id,
                                        state="open")
    return OpResult("applied", state="open")


def judge_visit_record(snap: Snapshot, pending: Pending, op: Op) -> OpResult:
    data = op.data
    rnd = _round(snap, data["round_id"])
    checkpoint = snap.checkpoints.get(data["checkpoint_id"])
    if checkpoint is None or checkpoint.site != rnd.site:
        raise not_found(("这个巡查点", "checkpoint"))
    checks = snap.checks.get(rnd.template, {})
    # A checkpoint off the template may still be visited; its answers must name checks the template has.
    known = checks.get(checkpoint.id) or {k: v for item in checks.values() for k, v in item.items()}
    for answer in data["answers"]:
        if answer["check_id"] not in known:
            raise not_found((f"检查项 {answer['check_id'][:64]}", f"check {answer['check_id'][:64]}"))
    _claim(snap, data["visit_id"], "visit_id")
    if rnd.staff != snap.user.id:
        raise forbidden("只有开始这次巡查的人可以记录 / only the person who started the round records on it")
    if rnd.state == "finished":
        return OpResult("conflict", state="finished")
    visit_id, shas = data["visit_id"], data["photos"]
    has_problem = False
    for answer in data["answers"]:
        pending.answers.append({"visit": visit_id, "check_id": answer["check_id"],
                                "label_zh": known[answer["check_id"]], "ok": answer["ok"], "note": answer["note"]})
        has_problem = has_problem or not answer["ok"]
    missing = _link(pending, snap, rnd.site, "visit", visit_id, shas, rnd.id) if shas else []
    clock = snap.clock
    pending.visits.append({
        "id": visit_id, "round": rnd.id, "site": rnd.site, "checkpoint": checkpoint.id, "staff": rnd.staff,
        "proof": data["proof"], "proof_verified": proof_verified(data["proof"], data.get("secret"), checkpoint),
        "scanned_at": clock.corrected(data["scanned_at"]), "scanned_device_at": data["scanned_at"],
        "received_at": clock.received_at, "lat": data.get("lat"), "lng": data.get("lng"),
        "accuracy_m": data.get("accuracy_m"), "photos": shas, "photos_missing": len(missing),
        "has_problem": has_problem, "skew_flag": clock.flagged,
    })
    snap.taken.add(visit_id)
    snap.visits[visit_id] = (rnd.site, rnd.id)
    return OpResult("applied", state="open", missing_photos=missing)


def judge_round_finish(snap: Snapshot, pending: Pending, op: Op) -> OpResult:
    rnd = _round(snap, op.data["round_id"])
    if rnd.staff != snap.user.id:
        raise forbidden("只有开始这次巡查的人可以结束 / only the person who started the round finishes it")
    if rnd.state == "finished":
        return OpResult("conflict", state="finished")
    device_at = op.data["finished_at"]
    rnd.state = "finished"
    pending.finishes.append(Finish(round_id=rnd.id, template=rnd.template,
                                   finished_at=snap.clock.corrected(device_at), device_at=device_at))
    return OpResult("applied", state="finished")


def judge_finding_report(snap: Snapshot, pending: Pending, op: Op) -> OpResult:
    data = op.data
    site_id = data["site_id"]
    if site_id not in snap.site_ids:
        raise not_found(("这个小区", "site"))
    if "checkpoint_id" in data:
        checkpoint = snap.checkpoints.get(data["checkpoint_id"])
        if checkpoint is None or checkpoint.site != site_id:
            raise not_found(("这个巡查点", "checkpoint"))
    if "zone_id" in data and snap.zones.get(data["zone_id"]) != site_id:
        raise not_found(("这个区域", "zone"))
    round_id = None
    if "visit_id" in data:
        visit = snap.visits.get(data["visit_id"])
        if visit is None or visit[0] != site_id:
            raise not_found(("这次到点记录", "visit"))
        round_id = visit[1]
    finding_id = data["finding_id"]
    _claim(snap, finding_id, "finding_id")
    site = snap.sites[site_id]
    code = standard.sla_code_for(data["category"], data["severity"])
    minutes = snap.figures.get((site_id, code))
    if minutes is None:
        raise Rejection("not_found", f"no figure {code} for this site")
    clock = snap.clock
    at = clock.corrected(op.at)
    due, reason = sla_deadline(code, minutes, at, site.timezone, site.level)
    shas = data["photos"]
    finding = {
        "id": finding_id, "site": site_id, "category": data["category"], "severity": data["severity"],
        "checkpoint": data.get("checkpoint_id"), "zone": data.get("zone_id"), "visit": data.get("visit_id"),
        "note": data["note"], "photos": shas, "lat": data.get("lat"), "lng": data.get("lng"),
        "reporter": snap.user.id, "reported_at": at, "reported_device_at": op.at, "skew_flag": clock.flagged,
    }
    missing = _link(pending, snap, site_id, "finding", finding_id, shas, round_id)
    rect = {
        "id": finding_id, "site": site_id, "finding": finding_id, "source": "field", "category": data["category"],
        "severity": data["severity"], "state": "open", "sla_code": code, "due_at": due, "due_reason": reason,
        "note": data["note"], "photos_before": shas, "photos_after": [], "photos_missing": len(missing),
        "created_at": at, "updated_at": clock.received_at, "seq": snap.seq,
    }
    pending.findings.append(finding)
    pending.rects.append(rect)
    pending.announce.append((finding, rect))
    snap.taken.add(finding_id)
    return OpResult("applied", state="open", missing_photos=missing)


JUDGES: dict[str, Callable[[Snapshot, Pending, Op], OpResult]] = {
    "round.start": judge_round_start,
    "visit.record": judge_visit_record,
    "round.finish": judge_round_finish,
    "finding.report": judge_finding_report,
}
