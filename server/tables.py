"""Every Piccolo table of the application, for Piccolo's app registry and for imports."""

from server.notify.tables import DigestItem, Notification, OutboundMessage, PushSubscription
from server.photos.tables import Photo, PhotoRef
from server.rectifications.tables import Finding, Rectification, RectTransition
from server.rounds.tables import CheckAnswer, PatrolSlot, Round, RoundTemplate, TemplateItem, Visit
from server.sites.tables import AuditEntry, ChangeCounter, Checkpoint, Deletion, Light, Site, SiteFigure, Zone
from server.staff.tables import DeviceToken, LoginAttempt, Staff, StaffSite, WebSession
from sync.tables import SyncOp

ALL_TABLES = [
    Site, Zone, Checkpoint, SiteFigure, Light, Deletion, ChangeCounter, AuditEntry,
    Staff, StaffSite, WebSession, DeviceToken, LoginAttempt,
    RoundTemplate, TemplateItem, PatrolSlot, Round, Visit, CheckAnswer,
    Finding, Rectification, RectTransition,
    Photo, PhotoRef,
    PushSubscription, Notification, DigestItem, OutboundMessage,
    SyncOp,
]

__all__ = [t.__name__ for t in ALL_TABLES] + ["ALL_TABLES"]
