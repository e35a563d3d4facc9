"""Records and their photos: completing when the last photo arrives, and the "possibly reused" flag."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from conftest import device_token, run
from photo_samples import encode, jpeg, scene, sha


@pytest.fixture
def field(client: Any, make_site: Any) -> "Field":
    return Field(client, make_site(roles=("guard", "cleaner", "technician")))


class Field:
    """One site's people recording rounds and findings through the services, uploading through HTTP."""

    def __init__(self, client: Any, site: dict[str, Any]) -> None:
        self.client, self.site = client, site
        self.users = site["users"]
        self.token = device_token(client, self.users["guard"].username)

    def upload(self, data: bytes) -> int:
        return self.client.put(f"/sync/photos/{sha(data)}", content=data, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "image/jpeg"}).status_code

    def round(self, role: str = "guard") -> Any:
        from server.rounds.services import start_round

        user = self.users[role]
        template = next(t for t in self.site["templates"] if t.role == role)
        at = datetime.now(timezone.utc)
        return run(start_round(uuid.uuid4(), template, user, at, at))

    def visit(self, rnd: Any, photos: list[str], role: str = "guard") -> tuple[uuid.UUID, list[str]]:
        from server.rounds.services import record_visit

        at = datetime.now(timezone.utc)
        visit, missing = run(record_visit(uuid.uuid4(), rnd, self.site["checkpoints"][0]["checkpoint"],
                                          self.users[role], proof="qr", proof_verified=True, scanned_at=at,
                                          device_at=at, answers=[], photos=photos))
        return visit.id, missing

    def finding(self, photos: list[str], role: str = "guard", round_id: Any = None) -> Any:
        from server.rectifications.services import report_finding

        return run(report_finding(self.users[role], uuid.uuid4(), self.site["site"].id, "facility", "normal",
                                  photos=photos, round_id=round_id))


def visit_missing(visit_id: Any) -> int:
    from server.rounds.tables import Visit

    return run(Visit.select(Visit.photos_missing).where(Visit.id == visit_id).first())["photos_missing"]


def rect_row(rect_id: Any) -> dict[str, Any]:
    from server.rectifications.tables import Rectification

    return run(Rectification.select(Rectification.photos_missing, Rectification.seq, Rectification.state)
               .where(Rectification.id == rect_id).first())


def refs_of(record_id: Any) -> list[dict[str, Any]]:
    from server.photos.tables import PhotoRef

    return run(PhotoRef.select().where(PhotoRef.record_id == record_id).order_by(PhotoRef.id))


def test_a_visit_completes_when_its_last_photo_arrives(field):
    a, b = jpeg(seed=301), jpeg(seed=302)
    visit_id, missing = field.visit(field.round(), [sha(a), sha(b)])
    assert missing == [sha(a), sha(b)] and visit_missing(visit_id) == 2
    assert field.upload(b) == 201
    assert visit_missing(visit_id) == 1
    assert field.upload(b) == 200 and visit_missing(visit_id) == 1  # a resend counts once
    assert field.upload(a) == 201
    assert visit_missing(visit_id) == 0


def test_a_photo_uploaded_first_is_never_missing(field):
    data = jpeg(seed=303)
    assert field.upload(data) == 201
    visit_id, missing = field.visit(field.round(), [sha(data)])
    assert missing == [] and visit_missing(visit_id) == 0


def test_a_rectification_completes_and_is_pulled_again(field):
    from server.changes import committed_position

    before, after = jpeg(seed=304), jpeg(seed=305)
    outcome = field.finding([sha(before)])
    rect_id = outcome.rectification.id
    assert rect_row(rect_id)["photos_missing"] == 1
    cursor = run(committed_position())
    assert field.upload(before) == 201
    row = rect_row(rect_id)
    assert row["photos_missing"] == 0 and row["seq"] > cursor  # the next incremental pull carries it

    from server.rectifications.services import transition

    fixed = run(transition(rect_id, field.users["technician"], "fix", photos=[sha(after)]))
    assert fixed.state == "fixed" and fixed.missing_photos == [sha(after)]
    assert rect_row(rect_id)["photos_missing"] == 1
    cursor = run(committed_position())
    assert field.upload(after) == 201
    row = rect_row(rect_id)
    assert row["photos_missing"] == 0 and row["seq"] > cursor


def test_the_same_photo_on_another_round_is_flagged(field):
    data = jpeg(seed=306)
    assert field.upload(data) == 201
    first, _ = field.visit(field.round(), [sha(data)])
    second, _ = field.visit(field.round(), [sha(data)])
    assert not refs_of(first)[0]["possibly_reused"]
    flagged = refs_of(second)[0]
    assert flagged["possibly_reused"]
    assert (flagged["reused_record_type"], flagged["reused_record_id"]) == ("visit", first)


def test_a_recompressed_copy_on_a_finding_is_flagged(field):
    picture = scene(1200, 900, 307)
    original, recompressed = encode(picture, "JPEG", quality=92), encode(picture.resize((1000, 750)), "JPEG",
                                                                           quality=60)
    assert sha(original) != sha(recompressed)
    assert field.upload(original) == 201 and field.upload(recompressed) == 201
    visit_id, _ = field.visit(field.round(), [sha(original)])
    rect = field.finding([sha(recompressed)], role="cleaner").rectification
    ref = refs_of(rect.id)[0]
    assert ref["possibly_reused"] and (ref["reused_record_type"], ref["reused_record_id"]) == ("visit", visit_id)


def test_flag_is_set_when_the_earlier_records_photo_arrives_last(field):
    """Round 1 names a photo not uploaded yet; round 2 uploads a copy of it first; the late arrival flags round 2."""
    picture = scene(800, 600, 308)
    first_copy, second_copy = encode(picture, "JPEG", quality=90), encode(picture, "JPEG", quality=70)
    early, _ = field.visit(field.round(), [sha(first_copy)])
    assert field.upload(second_copy) == 201
    late, _ = field.visit(field.round(), [sha(second_copy)])
    assert not refs_of(late)[0]["possibly_reused"]  # nothing to compare with yet
    assert field.upload(first_copy) == 201
    ref = refs_of(late)[0]
    assert ref["possibly_reused"] and ref["reused_record_id"] == early
    assert not refs_of(early)[0]["possibly_reused"]


def test_no_flag_within_one_round_or_for_different_pictures(field):
    from server.rectifications.services import transition

    data, other = jpeg(seed=309), jpeg(seed=310)
    assert field.upload(data) == 201 and field.upload(other) == 201
    rnd = field.round()
    visit_id, _ = field.visit(rnd, [sha(data)])
    # The finding reported during that round carries the visit's photo: same occasion, not a reuse.
    rect = field.finding([sha(data)], round_id=rnd.id).rectification
    fix = run(transition(rect.id, field.users["technician"], "fix", photos=[sha(other)]))
    assert fix.state == "fixed"
    assert not any(r["possibly_reused"] for r in refs_of(visit_id) + refs_of(rect.id))
    other_round, _ = field.visit(field.round(), [sha(jpeg(seed=311))])
    assert not any(r["possibly_reused"] for r in refs_of(other_round))


def test_photos_of_records_lists_what_the_console_shows(field):
    from server.photos.services import photos_of_records

    data, absent = jpeg(seed=312), jpeg(seed=313)
    assert field.upload(data) == 201
    first, _ = field.visit(field.round(), [sha(data)])
    second, _ = field.visit(field.round(), [sha(data), sha(absent)])
    listed = run(photos_of_records([first, str(second)]))
    assert [p["sha256"] for p in listed[first]] == [sha(data)]
    shown = listed[second]
    assert [(p["sha256"], p["received"], p["possibly_reused"]) for p in shown] == [
        (sha(data), True, True), (sha(absent), False, False)]
    assert shown[0]["reused_record_id"] == first and shown[0]["width"] == 640
    assert shown[0]["thumb_url"] == f"/photos/{sha(data)}?size=thumb"


def test_a_finding_reported_from_a_visit_shares_its_round(field):
    """Without a round id, the finding's visit tells which round it belongs to."""
    from server.rectifications.services import report_finding

    data = jpeg(seed=314)
    assert field.upload(data) == 201
    rnd = field.round()
    visit_id, _ = field.visit(rnd, [sha(data)])
    outcome = run(report_finding(field.users["guard"], uuid.uuid4(), field.site["site"].id, "facility", "normal",
                                 visit_id=visit_id, photos=[sha(data)]))
    assert not refs_of(outcome.rectification.id)[0]["possibly_reused"]


def test_through_the_sync_endpoints_a_finding_completes_when_its_photo_arrives(client, make_site):
    """A phone pushes a finding before its photo; the next incremental pull shows it complete."""
    from phone import Phone

    site = make_site(roles=("guard", "supervisor"))
    guard = Phone(client, site["users"]["guard"].username).login()
    supervisor = Phone(client, site["users"]["supervisor"].username).login()
    supervisor.pull()
    digest = guard.add_photo(jpeg(seed=315))
    rect_id = guard.report(str(site["site"].id), "hazard", photos=[digest], note="消防通道堆放杂物")
    [answer] = guard.push()
    assert answer["status"] == "applied" and answer["missing_photos"] == [digest]
    assert supervisor.pull()["rectifications"][0]["photos_missing"] == 1

    assert guard.upload_photos() == [digest] and guard.photos == {}
    changed = supervisor.pull()["rectifications"]
    assert [(r["id"], r["photos_missing"]) for r in changed] == [(rect_id, 0)]
    assert supervisor.pull()["rectifications"] == []  # nothing new since
    shown = client.get(f"/photos/{digest}?size=thumb", headers=supervisor.headers())
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
