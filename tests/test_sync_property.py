"""Property: phones working offline, then syncing with duplicates, reordering, lost replies and
interleaving, leave the server's logs exactly as a model of the same operations says.

Several simulated phones (a guard, a cleaner, a technician, a supervisor) make
random rounds, findings and rectification steps offline. Syncs interleave at
random; a batch's reply may be lost (the server applied it, the phone resends it
later); old ops are resent in random places. The model replays what the server
received, in receipt order, with its own copy of the contract's rules; afterwards
every round, visit, rectification, transition history and stored op must match it,
nothing lost and nothing doubled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run
from server.changes import committed_position
from phone import LostResponse, Phone

ROLES = ("guard", "cleaner", "technician", "supervisor")
ACTIONS = ("assign", "start", "fix", "verify", "reopen", "comment")
PHOTO = "c3" * 32

# The contract's state machine, written out again on purpose: the model must not share the server's code.
MACHINE = {
    "open": {"assign": "assigned", "start": "in_progress", "fix": "fixed"},
    "assigned": {"assign": "assigned", "start": "in_progress", "fix": "fixed"},
    "in_progress": {"assign": "assigned", "fix": "fixed"},
    "fixed": {"verify": "verified", "reopen": "reopened"},
    "reopened": {"assign": "assigned", "start": "in_progress", "fix": "fixed"},
    "verified": {},
}


@dataclass
class Model:
    users: dict[str, str]  # role -> staff id
    status: dict[str, str] = field(default_factory=dict)  # op_id -> applied | conflict | rejected
    rounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    rects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def receive(self, role: str, op: dict[str, Any]) -> None:
        """What the server must do with an op it received (a resend changes nothing)."""
        if op["op_id"] in self.status:
            return
        self.status[op["op_id"]] = self._judge(role, op["type"], op["data"], op["op_id"])

    def _judge(self, role: str, op_type: str, data: dict[str, Any], op_id: str) -> str:
        if op_type == "round.start":
            self.rounds[data["round_id"]] = {"state": "open", "visits": 0}
            return "applied"
        if op_type in ("visit.record", "round.finish"):
            rnd = self.rounds[data["round_id"]]
            if rnd["state"] == "finished":
                return "conflict"
            if op_type == "visit.record":
                rnd["visits"] += 1
            else:
                rnd["state"] = "finished"
            return "applied"
        if op_type == "finding.report":
            self.rects[data["finding_id"]] = {"state": "open", "assignee": None, "history": []}
            return "applied"
        rect = self.rects.get(data["rect_id"])
        if rect is None:
            return "rejected"
        action, actor, supervisor = data["action"], self.users[role], role == "supervisor"
        if action in ("assign", "verify", "reopen") and not supervisor:
            return "rejected"
        if action in ("start", "fix") and rect["assignee"] not in (None, actor) and not supervisor:
            return "rejected"
        after = rect["state"] if action == "comment" else MACHINE[rect["state"]].get(action)
        if after is None:
            rect["history"].append((op_id, action, "conflict"))
            return "conflict"
        rect["history"].append((op_id, action, "applied"))
        rect["state"] = after
        if action == "assign":
            rect["assignee"] = data["assignee_id"]
        elif action in ("start", "fix") and rect["assignee"] is None:
            rect["assignee"] = actor
        return "applied"


act = st.tuples(st.just("act"), st.sampled_from(("cleaner", "technician", "supervisor")), st.sampled_from(ACTIONS),
                st.integers(0, 1))
sync = st.tuples(st.just("sync"), st.sampled_from(ROLES), st.integers(1, 6), st.booleans(), st.integers(0, 2),
                 st.booleans())
# Rectification steps and syncs are listed more than once so that random programs often build up
# long histories on the same few rectifications (where conflicts and role rules bite).
steps = st.lists(st.one_of(
    st.tuples(st.just("round"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("report"), st.sampled_from(("guard", "cleaner")), st.sampled_from(("drain", "lighting", "hazard"))),
    act, act, sync, sync,
    # Several steps on one rectification in a row, offline (e.g. start then fix, or verify twice).
    st.tuples(st.just("burst"), st.sampled_from(("cleaner", "technician", "supervisor")),
              st.lists(st.sampled_from(ACTIONS), min_size=2, max_size=4)),
), min_size=10, max_size=36)


@pytest.fixture
def offline_site(make_site, client):
    site = make_site(roles=ROLES)
    tokens = {role: Phone(client, site["users"][role].username).login() for role in ROLES}
    patrol = next(t for t in site["templates"] if t.code == "patrol.core")
    checkpoints = [str(c["checkpoint"].id) for c in site["checkpoints"]]
    return {"site": site, "logins": tokens, "patrol": str(patrol.id), "checkpoints": checkpoints, "client": client}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(program=steps, seed=st.integers(0, 2**16))
def test_server_logs_equal_the_model(offline_site, program, seed):
    site, client = offline_site["site"], offline_site["client"]
    rng = random.Random(seed)
    users = {role: str(site["users"][role].id) for role in ROLES}
    phones = {}
    # Earlier examples' records are not this one's business: start from the current position.
    cursor = f"v1.{run(committed_position())}"
    for role, login in offline_site["logins"].items():
        phones[role] = Phone(client, login.username, device_id=login.device_id, rng=random.Random(seed + len(role)))
        phones[role].token, phones[role].user, phones[role].cursor = login.token, login.user, cursor
    model = Model(users=users)
    sent: dict[str, list[dict[str, Any]]] = {role: [] for role in ROLES}
    known: dict[str, list[str]] = {role: [] for role in ROLES}
    reported: list[str] = []  # the site is shared by every example: phones act only on this one's records
    site_id = str(site["site"].id)

    def deliver(role: str, batch: list[dict[str, Any]], lose: bool) -> None:
        p = phones[role]
        for op in batch:
            model.receive(role, op)
        p.drop_rate = 1.0 if lose else 0.0
        try:
            p.push_batch(batch)
        except LostResponse:
            pass
        sent[role].extend(batch)

    def pull(role: str) -> None:
        p = phones[role]
        p.drop_rate = 0.0
        p.pull()
        for rect_id in p.store.get("rectifications", {}):
            if rect_id in reported and rect_id not in known[role]:
                known[role].append(rect_id)

    for step in program:
        kind = step[0]
        if kind == "round":
            guard = phones["guard"]
            round_id = guard.start_round(offline_site["patrol"])
            for i in range(step[1]):
                guard.visit(round_id, offline_site["checkpoints"][i], proof="none")
            if step[2]:
                guard.finish_round(round_id)
                if rng.random() < 0.3:
                    guard.finish_round(round_id)  # finished twice offline: the second is a conflict
        elif kind == "report":
            rect_id = phones[step[1]].report(site_id, step[2])
            known[step[1]].append(rect_id)
            reported.append(rect_id)
        elif kind in ("act", "burst"):
            role = step[1]
            actions, pick = ([step[2]], step[3]) if kind == "act" else (step[2], 0)
            # A phone acts on what it pulled or reported; now and then on a record it heard of
            # some other way (the finding may not have reached the server yet: not_found).
            choices = known[role] or reported
            if not choices:
                continue
            for action in actions:
                extra: dict[str, Any] = {}
                if action == "assign":
                    extra["assignee_id"] = users["technician" if rng.random() < 0.7 else "cleaner"]
                if action == "fix":
                    extra["photos"] = [PHOTO]
                # Mostly the newest rectifications this phone knows of.
                phones[role].transition(choices[-1 - pick % len(choices)], action, **extra)
        else:
            _, role, size, lose, resend, also_pull = step
            p = phones[role]
            batch = list(p.outbox[:size])
            for old in rng.sample(sent[role], min(resend, len(sent[role]))):
                batch.insert(rng.randrange(len(batch) + 1), old)  # an old op resent anywhere in the batch
            if batch:
                deliver(role, batch, lose)
            if also_pull:
                pull(role)

    for role in ROLES:  # the network is back for good: every phone empties its outbox
        while phones[role].outbox:
            deliver(role, list(phones[role].outbox[:5]), lose=False)
    _check(model, phones, sent)


def _check(model: Model, phones: dict[str, Phone], sent: dict[str, list[dict[str, Any]]]) -> None:
    from server.rectifications.tables import Rectification, RectTransition
    from server.rounds.tables import Round, Visit
    from sync.tables import SyncOp

    op_ids = list(model.status)
    stored = run(SyncOp.select(SyncOp.op_id, SyncOp.status).where(SyncOp.op_id.is_in(op_ids))) if op_ids else []
    assert sorted((str(r["op_id"]), r["status"]) for r in stored) == sorted(model.status.items())

    if model.rounds:
        rounds = run(Round.select(Round.id, Round.state).where(Round.id.is_in(list(model.rounds))))
        assert {str(r["id"]): r["state"] for r in rounds} == {k: v["state"] for k, v in model.rounds.items()}
        visits = run(Visit.select(Visit.round).where(Visit.round.is_in(list(model.rounds))))
        counts = {k: 0 for k in model.rounds}
        for v in visits:
            counts[str(v["round"])] += 1
        assert counts == {k: v["visits"] for k, v in model.rounds.items()}

    if model.rects:
        rects = run(Rectification.select(Rectification.id, Rectification.state, Rectification.assignee).where(
            Rectification.id.is_in(list(model.rects))))
        assert {str(r["id"]): (r["state"], str(r["assignee"]) if r["assignee"] else None) for r in rects} == {
            k: (v["state"], v["assignee"]) for k, v in model.rects.items()}
        steps = run(RectTransition.select(RectTransition.rectification, RectTransition.op_id, RectTransition.action,
                                          RectTransition.outcome, RectTransition.position).where(
            RectTransition.rectification.is_in(list(model.rects))).order_by(RectTransition.position))
        history: dict[str, list[tuple[str, str, str]]] = {k: [] for k in model.rects}
        for s in steps:
            history[str(s["rectification"])].append((str(s["op_id"]), s["action"], s["outcome"]))
        assert history == {k: v["history"] for k, v in model.rects.items()}

    for role, p in phones.items():
        assert p.outbox == [], role
        for op in sent[role]:
            heard = p.results.get(op["op_id"])
            if heard is None:
                continue  # every reply about this op was lost
            expected = model.status[op["op_id"]]
            assert heard["status"] == expected or (heard["status"] == "duplicate"
                                                   and heard["original_status"] == expected), (op, heard)
