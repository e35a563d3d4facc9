"""Round templates, rounds, visits, check answers and patrol slots (the inspection log)."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Float, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.sites.tables import Checkpoint, Site
from server.staff.tables import Staff


class RoundTemplate(Table):
    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    code = Varchar(length=64, default="")  # the standard's row, e.g. patrol.core
    role = Varchar(length=16)
    kind = Varchar(length=32)  # patrol, cleaning, greenery, drains, lighting, pests
    name_zh = Varchar(length=200)
    name_en = Varchar(length=200)
    # {"period": "hours"|"day"|"week"|"month"|"quarter"|"year"|"occurrence"|"contract",
    #  "every": N, "times": N}; e.g. every 2 hours, 2 times a day.
    frequency = JSON(default={})
    window_start = Varchar(length=5, default="00:00")
    window_end = Varchar(length=5, default="24:00")
    proof = Varchar(length=8, default="qr")
    extrapolated = Boolean(default=False)
    active = Boolean(default=True)
    seq = BigInt(default=0, index=True)
    # From when its windows are slots (with the site's created_at: schedule.since_of).
    created_at = Timestamptz(default=TimestamptzNow())


class TemplateItem(Table):
    id = UUID(primary_key=True)
    template = ForeignKey(references=RoundTemplate, index=True)
    checkpoint = ForeignKey(references=Checkpoint)
    position = Integer(default=0)
    checks = JSON(default=[])  # [{"id", "label_zh", "label_en"}]


class PatrolSlot(Table):
    """One window of a scheduled round: pending, done (on time), late, incomplete or missed (server/rounds/schedule.py).

    A settled slot carries how many of its template's checkpoints the round visited
    (`visited`) of how many it requires (`required`); both null while unsettled.
    """

    id = UUID(primary_key=True)
    template = ForeignKey(references=RoundTemplate, index=True)
    site = ForeignKey(references=Site, index=True)
    window_start = Timestamptz()
    window_end = Timestamptz()
    status = Varchar(length=16, default="pending")
    round = UUID(null=True, default=None)
    staff = ForeignKey(references=Staff, null=True)
    settled_at = Timestamptz(null=True, default=None)
    visited = Integer(null=True, default=None)
    required = Integer(null=True, default=None)


class Round(Table, tablename="inspection_round"):
    id = UUID(primary_key=True)
    template = ForeignKey(references=RoundTemplate, index=True)
    site = ForeignKey(references=Site, index=True)
    staff = ForeignKey(references=Staff, index=True)
    state = Varchar(length=10, default="open")  # open | finished
    started_at = Timestamptz()  # corrected time
    started_device_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    finished_device_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())
    skew_seconds = Float(default=0)
    skew_flag = Boolean(default=False)
    slot = UUID(null=True, default=None)


class Visit(Table):
    id = UUID(primary_key=True)
    round = ForeignKey(references=Round, index=True)
    site = ForeignKey(references=Site, index=True)
    checkpoint = ForeignKey(references=Checkpoint, index=True)
    staff = ForeignKey(references=Staff)
    proof = Varchar(length=8)  # qr | code | none
    proof_verified = Boolean(default=False)
    scanned_at = Timestamptz()  # corrected time
    scanned_device_at = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())
    lat = Float(null=True, default=None)
    lng = Float(null=True, default=None)
    accuracy_m = Float(null=True, default=None)
    photos = JSON(default=[])
    photos_missing = Integer(default=0)
    has_problem = Boolean(default=False)
    skew_flag = Boolean(default=False)


class CheckAnswer(Table):
    visit = ForeignKey(references=Visit, index=True)
    check_id = Varchar(length=64)
    label_zh = Varchar(length=200, default="")
    ok = Boolean()
    note = Varchar(length=2000, default="")
