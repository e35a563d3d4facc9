"""Every operation a phone pushed, whatever its status (rejected ones are the quarantine)."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Float, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.staff.tables import Staff


class SyncOp(Table):
    op_id = UUID(primary_key=True)  # the primary key is what makes a resend a duplicate
    staff = ForeignKey(references=Staff, index=True)
    device_id = Varchar(length=64, default="")
    type = Varchar(length=32)
    data = JSON(default={})
    at = Timestamptz(null=True, default=None)  # device time of the action
    device_time = Timestamptz(null=True, default=None)  # device clock when pushed
    received_at = Timestamptz(default=TimestamptzNow())
    corrected_at = Timestamptz(null=True, default=None)
    skew_seconds = Float(default=0)
    status = Varchar(length=10)
    code = Varchar(length=32, default="")
    reason = Text(default="")
    state = Varchar(length=16, default="")
