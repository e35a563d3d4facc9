"""Photos (content-addressed by the original's SHA-256) and the records that reference them."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.sites.tables import Site
from server.staff.tables import Staff


class Photo(Table):
    sha256 = Varchar(length=64, unique=True)
    uploader = ForeignKey(references=Staff, null=True)
    content_type = Varchar(length=16)
    bytes = Integer()
    width = Integer()
    height = Integer()
    phash = Varchar(length=16, index=True)
    # The perceptual hash cut in four 16-bit quarters: two hashes within 3 bits
    # of each other share at least one quarter exactly, so near-duplicates are
    # found through these indexes instead of scanning every photo.
    phash_q1 = Varchar(length=4, default="", index=True)
    phash_q2 = Varchar(length=4, default="", index=True)
    phash_q3 = Varchar(length=4, default="", index=True)
    phash_q4 = Varchar(length=4, default="", index=True)
    captured_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())


class PhotoRef(Table):
    """A record's reference to a photo, known before or after the photo arrives."""

    sha256 = Varchar(length=64, index=True)
    site = ForeignKey(references=Site, index=True)
    record_type = Varchar(length=16)  # visit | finding | rect_after | transition
    record_id = UUID(index=True)
    round_id = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    possibly_reused = Boolean(default=False)
    reused_record_type = Varchar(length=16, default="")
    reused_record_id = UUID(null=True, default=None)
