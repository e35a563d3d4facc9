"""Findings and the rectification log (整改记录) with every transition kept."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Float, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.rounds.tables import Visit
from server.sites.tables import Checkpoint, Site, Zone
from server.staff.tables import Staff


class Finding(Table):
    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    category = Varchar(length=32)
    severity = Varchar(length=16)
    checkpoint = ForeignKey(references=Checkpoint, null=True)
    zone = ForeignKey(references=Zone, null=True)
    visit = ForeignKey(references=Visit, null=True)
    note = Text(default="")
    photos = JSON(default=[])
    lat = Float(null=True, default=None)
    lng = Float(null=True, default=None)
    reporter = ForeignKey(references=Staff, null=True)
    reported_at = Timestamptz()  # corrected
    reported_device_at = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())
    skew_flag = Boolean(default=False)
    reviewed = Boolean(default=False)


class Rectification(Table):
    id = UUID(primary_key=True)
    site = ForeignKey(references=Site, index=True)
    finding = ForeignKey(references=Finding, null=True)
    source = Varchar(length=16, default="field")  # field | reception
    category = Varchar(length=32)
    severity = Varchar(length=16, default="normal")
    state = Varchar(length=16, default="open")
    sla_code = Varchar(length=64, default="")
    due_at = Timestamptz(null=True, default=None)
    due_reason = Text(default="")
    assignee = ForeignKey(references=Staff, null=True)
    note = Text(default="")
    photos_before = JSON(default=[])
    photos_after = JSON(default=[])
    photos_missing = Integer(default=0)
    resident_unit = Varchar(length=100, default="")
    resident_contact = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    fixed_at = Timestamptz(null=True, default=None)
    verified_at = Timestamptz(null=True, default=None)
    followup_at = Timestamptz(null=True, default=None)
    followup_outcome = Varchar(length=200, default="")
    overdue_flagged = Boolean(default=False)
    seq = BigInt(default=0, index=True)


class RectTransition(Table):
    id = UUID(primary_key=True)
    rectification = ForeignKey(references=Rectification, index=True)
    action = Varchar(length=16)
    outcome = Varchar(length=10)  # applied | conflict
    from_state = Varchar(length=16)
    to_state = Varchar(length=16)
    actor = ForeignKey(references=Staff, null=True)
    assignee = ForeignKey(references=Staff, null=True)
    note = Text(default="")
    photos = JSON(default=[])
    at = Timestamptz()  # corrected time
    device_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())
    op_id = UUID(null=True, default=None)
    source = Varchar(length=10, default="phone")  # phone | console
    position = Integer(default=0)
    skew_flag = Boolean(default=False)  # the device clock was off by more than skew_flag_minutes
